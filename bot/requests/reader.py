"""One reader for every request Slack sends: raw bytes in, a verified, typed payload out.

The order matters and is the point of this module:
1. the size is capped and the signature checked (slack_sdk's SignatureVerifier) on the raw bytes;
2. only then is the body decoded and parsed, by us: slack-bolt's own parser treats any form that contains
   the text `payload` as an interaction (so `/xero help payload` was dropped);
3. the result is validated into one of the models below, and handlers read only those models.

Ids are checked to be Slack-id-shaped strings, so a `{"$ne": ""}` can never reach a database query.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Mapping, Self
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator
from slack_sdk.signature import SignatureVerifier

MAX_BODY_BYTES = 1_000_000
MAX_JSON_DEPTH = 64  # Slack's deepest payloads (view state inside a view) nest about 10 levels
MAX_FORM_FIELDS = 100
MAX_REQUEST_AGE_SECONDS = 5 * 60
CONTEXT_KEY = "slack_request"

SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,39}$")]
RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
TriggerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,2000}$")]
Name = Annotated[str, StringConstraints(max_length=255)]
Value = Annotated[str, StringConstraints(max_length=4000)]
Text = Annotated[str, StringConstraints(max_length=12000)]


class UnreadablePayload(Exception):
    """A request passed the signature check but lacks something a handler needs; answered politely."""


class Rejected(Exception):
    """The request is refused before any handler runs. `reason` is logged; the body never is."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


class Action(Model):
    action_id: Name
    block_id: Name | None = None
    type: Name | None = None
    value: Value | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = Field(default_factory=list, max_length=1000)


class Message(Model):
    ts: Name | None = None


class Interaction(Model):
    """What every interaction carries: who, where, and how to answer."""

    kind: ClassVar[str]
    team: Ref
    user: Ref
    channel: Ref | None = None
    trigger_id: TriggerId | None = None
    response_url: Url | None = None
    enterprise: Ref | None = None  # Enterprise Grid: the org (bolt authorizes with it)
    is_enterprise_install: bool | None = None

    @property
    def team_id(self) -> str:
        return self.team.id

    @property
    def enterprise_id(self) -> str | None:
        return self.enterprise.id if self.enterprise else None

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
        request = context.get(CONTEXT_KEY)
        if not isinstance(request, cls):
            raise UnreadablePayload(f"expected a {cls.__name__}")
        return request


class BlockAction(Interaction):
    kind: ClassVar[str] = "block_actions"
    type: Literal["block_actions"]
    actions: list[Action] = Field(min_length=1, max_length=25)
    view: View | None = None
    message: Message | None = None
    state: State | None = None  # the inputs of the message that holds the button

    @property
    def action(self) -> Action:
        return self.actions[0]

    def record_id(self) -> str:
        """The clicked button's value, when it names a record (a job, an organisation)."""
        try:
            return TypeAdapter(RecordId).validate_python(self.action.value, strict=True)
        except ValidationError:
            raise UnreadablePayload("the button carries no record id") from None

    def selected_value(self) -> str:
        """The option picked in a select menu."""
        if self.action.selected_option is None:
            raise UnreadablePayload("the action carries no selected option")
        return self.action.selected_option.value

    def open_view(self) -> View:
        if self.view is None or self.view.id is None:
            raise UnreadablePayload("the action did not come from a view")
        return self.view


class ViewSubmission(Interaction):
    kind: ClassVar[str] = "view_submission"
    type: Literal["view_submission"]
    view: View

    @property
    def metadata(self) -> ViewMetadata:
        return self.view.metadata


class BlockSuggestion(Interaction):
    kind: ClassVar[str] = "block_suggestion"
    type: Literal["block_suggestion"]
    action_id: Name
    block_id: Name | None = None
    value: Value = ""
    view: View | None = None


class SlashCommand(Model):
    kind: ClassVar[str] = "command"
    command: Name
    text: Text = ""
    team_id: SlackId
    user_id: SlackId
    enterprise_id: SlackId | None = None  # Enterprise Grid
    is_enterprise_install: Name | None = None  # "true" or "false" (a form field)
    channel_id: SlackId | None = None
    trigger_id: TriggerId | None = None
    response_url: Url  # Slack sends one with every command; every answer goes there

    @property
    def words(self) -> list[str]:
        return self.text.split()

    @classmethod
    def of(cls, context: Mapping) -> Self:
        request = context.get(CONTEXT_KEY)
        if not isinstance(request, cls):
            raise UnreadablePayload("expected a slash command")
        return request


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
        request = context.get(CONTEXT_KEY)
        if not isinstance(request, cls):
            raise UnreadablePayload("expected an event")
        return request


class UrlVerification(Model):
    kind: ClassVar[str] = "url_verification"
    type: Literal["url_verification"]
    challenge: Annotated[str, StringConstraints(max_length=200)]


SlackRequest = SlashCommand | BlockAction | ViewSubmission | BlockSuggestion | EventCallback | UrlVerification
_interaction = TypeAdapter(Annotated[BlockAction | ViewSubmission | BlockSuggestion, Field(discriminator="type")])
INTERACTION_TYPES = ("block_actions", "view_submission", "block_suggestion")
_event = TypeAdapter(Annotated[EventCallback | UrlVerification, Field(discriminator="type")])


@dataclass(frozen=True)
class Inbound:
    """A verified request: its typed payload, or (when it did not validate) what kind it claimed to be."""

    kind: str  # "command", "block_actions", "view_submission", "block_suggestion", "event" or "other"
    payload: SlackRequest | None
    raw: dict  # the parsed form or JSON, never logged; used only to answer an unreadable request politely

    def bolt_body(self) -> dict:
        """What bolt dispatches on: only the fields the models know, so bolt never meets odd shapes."""
        assert self.payload is not None
        return self.payload.model_dump(mode="json", exclude_none=True)


class RequestReader:
    def __init__(self, signing_secret: str, *, clock=time.time):
        self.verifier = SignatureVerifier(signing_secret)
        self.clock = clock

    def read(self, raw: bytes, headers: Mapping[str, str]) -> Inbound:
        text = self.verify(raw, headers)
        return self.parse(text)

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> str:
        """The body as text, once it is known to come from Slack; raises Rejected otherwise."""
        if len(raw) > MAX_BODY_BYTES:
            raise Rejected(413, "too_large")
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        # Shapes first: int() and hmac.compare_digest would raise on odd text (a 500, not a 401).
        if not re.fullmatch(r"[0-9]{1,12}", timestamp) or not re.fullmatch(r"v0=[0-9a-f]{64}", signature):
            raise Rejected(401, "unsigned")
        if abs(self.clock() - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
            raise Rejected(401, "stale")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(401, "not_utf8") from None  # Slack signs UTF-8 text: this cannot be from Slack
        if not self.verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            raise Rejected(401, "bad_signature")
        return text

    def parse(self, text: str) -> Inbound:
        if text.lstrip().startswith("{"):
            return self._event(text)
        try:
            form = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
        except ValueError:
            raise Rejected(400, "bad_form") from None
        if set(form) == {"payload"}:
            return self._interaction(form["payload"])
        if "command" in form:
            return self._command(form)
        if form.get("ssl_check") == "1":
            return Inbound("other", None, {})  # Slack checking the certificate: a 200 is all it wants
        raise Rejected(400, "not_a_slack_request")

    def _command(self, form: dict) -> Inbound:
        try:
            return Inbound("command", SlashCommand.model_validate(form), form)
        except ValidationError:
            return Inbound("command", None, form)

    def _event(self, text: str) -> Inbound:
        """The Events API posts JSON: an event, or the one-off URL check when events are switched on."""
        data = load_json(text)
        if not isinstance(data, dict) or data.get("type") not in ("event_callback", "url_verification"):
            raise Rejected(400, "not_a_slack_request")
        try:
            return Inbound("event", _event.validate_python(data), data)
        except ValidationError:
            return Inbound("event", None, data)

    def _interaction(self, text: str) -> Inbound:
        data = load_json(text)
        if not isinstance(data, dict):
            raise Rejected(400, "payload_not_an_object")
        kind = str(data.get("type"))
        if kind not in INTERACTION_TYPES:
            return Inbound("other", None, data)
        try:
            return Inbound(kind, _interaction.validate_python(data), data)
        except ValidationError:
            return Inbound(kind, None, data)


def load_json(text: str) -> Any:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise Rejected(400, "payload_too_deep")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Rejected(400, "payload_not_json") from None


def json_depth(text: str) -> int:
    """How deep brackets nest, strings skipped; cheap enough to run before json.loads."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than it has brackets
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def response_url_of(raw: dict) -> str | None:
    """Where to answer an interaction that did not validate, if it names a plausible response_url."""
    try:
        return _reachable.validate_python(raw).response_url
    except ValidationError:
        return None


class _Reachable(Model):
    response_url: Url | None = None


_reachable = TypeAdapter(_Reachable)
