"""Typing into an external select: Slack asks for the options (`block_suggestion`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from bot.requests.shapes import Interaction, Name, Value, View


class BlockSuggestion(Interaction):
    kind: ClassVar[str] = "block_suggestion"
    type: Literal["block_suggestion"]
    action_id: Name
    block_id: Name | None = None
    value: Value = ""
    view: View | None = None
