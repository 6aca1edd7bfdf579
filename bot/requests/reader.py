"""One reader for every request Slack sends: raw bytes in, a verified, typed payload out.

The order matters and is the point of this package:
1. the size is capped and the signature checked (bot/requests/verify.py, slack_sdk's SignatureVerifier) on
   the raw bytes;
2. only then is the body decoded and parsed, by us: slack-bolt's own parser treats any form that contains
   the text `payload` as an interaction (so `/xero help payload` was dropped);
3. the result is validated into one of the typed payloads (one module per kind: commands, actions, views,
   options, events), and handlers read only those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Mapping
from urllib.parse import parse_qsl

from pydantic import Field, TypeAdapter, ValidationError

from bot.requests.actions import BlockAction
from bot.requests.commands import SlashCommand
from bot.requests.events import EventCallback, UrlVerification
from bot.requests.options import BlockSuggestion
from bot.requests.shapes import Model, Url
from bot.requests.verify import MAX_FORM_FIELDS, Rejected, SignedRequests, load_json
from bot.requests.views import ViewSubmission

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
        self.signed = SignedRequests(signing_secret, clock=clock)

    def read(self, raw: bytes, headers: Mapping[str, str]) -> Inbound:
        return self.parse(self.signed.verify(raw, headers))

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


def response_url_of(raw: dict) -> str | None:
    """Where to answer an interaction that did not validate, if it names a plausible response_url."""
    try:
        return _reachable.validate_python(raw).response_url
    except ValidationError:
        return None


class _Reachable(Model):
    response_url: Url | None = None


_reachable = TypeAdapter(_Reachable)
