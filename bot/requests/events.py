"""The Events API (a JSON body): an event, or the one-off URL check when events are switched on."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Mapping, Self

from pydantic import Field, StringConstraints

from bot.requests.shapes import Model, Name, SlackId, View, of_kind


class RevokedTokens(Model):
    """tokens_revoked: the user ids whose user tokens and the bot ids whose bot tokens Slack revoked."""

    oauth: list[SlackId] = Field(default_factory=list, max_length=1000)
    bot: list[SlackId] = Field(default_factory=list, max_length=1000)


class Event(Model):
    type: Name
    user: SlackId | None = None
    channel: SlackId | None = None
    tab: Name | None = None  # app_home_opened: "home" or "messages"
    view: View | None = None
    event_ts: Name | None = None
    tokens: RevokedTokens | None = None  # tokens_revoked


class Authorization(Model):
    """Whose installation an event is delivered for (Enterprise Grid: the org's, is_enterprise_install)."""

    enterprise_id: SlackId | None = None
    team_id: SlackId | None = None
    is_enterprise_install: bool = False


class EventCallback(Model):
    """Events API (JSON body): only read if the app subscribes to events, e.g. app_home_opened."""

    kind: ClassVar[str] = "event_callback"
    type: Literal["event_callback"]
    team_id: SlackId
    api_app_id: SlackId | None = None
    event_id: Name | None = None
    event: Event
    enterprise_id: SlackId | None = None
    is_enterprise_install: bool | None = None
    authorizations: list[Authorization] = Field(default_factory=list, max_length=10)

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
