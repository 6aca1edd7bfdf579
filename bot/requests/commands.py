"""A slash command (`/xero ...`), posted as a form."""

from __future__ import annotations

from typing import ClassVar, Mapping, Self

from bot.requests.shapes import Model, Name, SlackId, Text, TriggerId, Url, of_kind


class SlashCommand(Model):
    kind: ClassVar[str] = "command"
    command: Name
    text: Text = ""
    team_id: SlackId
    user_id: SlackId
    channel_id: SlackId | None = None
    trigger_id: TriggerId | None = None
    response_url: Url  # Slack sends one with every command; every answer goes there

    @property
    def words(self) -> list[str]:
        return self.text.split()

    @classmethod
    def of(cls, context: Mapping) -> Self:
        return of_kind(cls, context, "a slash command")
