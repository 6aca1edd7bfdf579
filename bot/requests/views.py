"""A submitted modal (`view_submission`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from bot.requests.shapes import Interaction, View, ViewMetadata


class ViewSubmission(Interaction):
    kind: ClassVar[str] = "view_submission"
    type: Literal["view_submission"]
    view: View

    @property
    def metadata(self) -> ViewMetadata:
        return self.view.metadata
