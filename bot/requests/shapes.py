"""What every typed payload is made of: Slack-id-shaped strings, views and their state, the common interaction.

Ids are checked to be Slack-id-shaped strings, so a `{"$ne": ""}` can never reach a database query. A payload
that passed the signature check but lacks something a handler needs raises UnreadablePayload (answered politely).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, Mapping, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CONTEXT_KEY = "slack_request"  # where SlackEndpoint puts the typed payload in bolt's context

SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,39}$")]
RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
TriggerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,2000}$")]
Name = Annotated[str, StringConstraints(max_length=255)]
Value = Annotated[str, StringConstraints(max_length=4000)]
Text = Annotated[str, StringConstraints(max_length=12000)]


class UnreadablePayload(Exception):
    """A request passed the signature check but lacks something a handler needs; answered politely."""


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Ref(Model):
    id: SlackId


class Option(Model):
    value: Value


class Element(Model):
    """What one input of a view (or of a message) holds."""

    type: Name | None = None
    value: Value | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = Field(default_factory=list, max_length=1000)
    selected_conversation: SlackId | None = None
    selected_channel: SlackId | None = None
    selected_users: list[SlackId] = Field(default_factory=list, max_length=1000)


class State(Model):
    values: dict[Name, dict[Name, Element]] = Field(default_factory=dict)

    def element(self, block_id: str, action_id: str) -> Element:
        return (self.values.get(block_id) or {}).get(action_id) or Element()


class Block(Model):
    block_id: Name | None = None


class ViewMetadata(Model):
    """What the bot put into `private_metadata` when it opened a view."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    channel_id: SlackId | None = None
    tenant_id: RecordId | None = None
    job_id: RecordId | None = None
    batch_id: RecordId | None = None
    page: int | None = Field(default=None, ge=0, le=10_000)  # the page of "See all" a batch's modal shows

    @model_validator(mode="before")
    @classmethod
    def _empty_is_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: (None if v == "" else v) for k, v in data.items()}
        return data


class View(Model):
    type: Literal["modal", "home"] = "modal"
    id: SlackId | None = None
    callback_id: Name = ""
    hash: Name | None = None
    private_metadata: Value = ""
    metadata: ViewMetadata = Field(default_factory=ViewMetadata, exclude=True)
    state: State = Field(default_factory=State)
    blocks: list[Block] = Field(default_factory=list, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _read_metadata(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("private_metadata"), str) and data["private_metadata"]:
            try:
                data = {**data, "metadata": json.loads(data["private_metadata"])}
            except ValueError:
                raise ValueError("private_metadata is not JSON") from None
        return data

    def has_block(self, block_id: str) -> bool:
        return any(block.block_id == block_id for block in self.blocks)


class Interaction(Model):
    """What every interaction carries: who, where, and how to answer."""

    kind: ClassVar[str]
    team: Ref
    user: Ref
    channel: Ref | None = None
    trigger_id: TriggerId | None = None
    response_url: Url | None = None

    @property
    def team_id(self) -> str:
        return self.team.id

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else None

    def trigger(self) -> str:
        """The trigger for views.open; Slack sends one with every click and submission."""
        if not self.trigger_id:
            raise UnreadablePayload("no trigger_id to open a view with")
        return self.trigger_id

    @classmethod
    def of(cls, context: Mapping) -> Self:
        """The payload of the request being handled (read by SlackEndpoint before bolt dispatched it)."""
        return of_kind(cls, context, f"a {cls.__name__}")




def of_kind(cls: type, context: Mapping, what: str):
    """The payload of the request being handled (read by SlackEndpoint before bolt dispatched it)."""
    request = context.get(CONTEXT_KEY)
    if not isinstance(request, cls):
        raise UnreadablePayload(f"expected {what}")
    return request
