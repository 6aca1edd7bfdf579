"""The Events API (a JSON body): an event, or the one-off URL check when events are switched on."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Mapping, Self

from pydantic import StringConstraints

from bot.requests.shapes import Model, Name, SlackId, View, of_kind


class Event(Model):
    type: Name
    user: SlackId | None = None
    channel: SlackId | None = None
    tab: Name | None = None  # app_home_opened: "home" or "messages"
    view: View | None = None
    event_ts: Name | None = None


class EventCallback(Model):
    """Events API (JSON body): only read if the app subscribes to events, e.g. app_home_opened."""

    kind: ClassVar[str] = "event_callback"
    type: Literal["event_callback"]
    team_id: SlackId
    api_app_id: SlackId | None = None
    event_id: Name | None = None
    event: Event

    @property
    def user_id(self) -> str | None:
        return self.event.user

    @classmethod
    def of(cls, context: Mapping) -> Self:
        return of_kind(cls, context, "an event")


class UrlVerification(Model):
    kind: ClassVar[str] = "url_verification"
    type: Literal["url_verification"]
    challenge: Annotated[str, StringConstraints(max_length=200)]
