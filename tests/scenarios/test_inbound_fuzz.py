"""Thousands of generated requests of every kind, signed and not, through the real aiohttp app.

Whatever arrives, the bot answers below 500, logs no traceback, and never logs a request body or a secret.
The examples are derandomized so a run is repeatable; `INBOUND_FUZZ_EXAMPLES=5000` (per kind) digs deeper.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from urllib.parse import urlencode

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.platform.storage import Storage
from tests.support.harness import start_harness, stop_harness
from tests.support.signing import SIGNING_SECRET, signed_headers
from tests.support.slack_standin import TEAM_ID

settings.register_profile(
    "inbound-fuzz",
    max_examples=int(os.environ.get("INBOUND_FUZZ_EXAMPLES", "350")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                          HealthCheck.function_scoped_fixture],  # one bot serves every example, on purpose
)
FUZZ = settings.get_profile("inbound-fuzz")

SENTINEL = "zq-body-sentinel-5521"  # put into bodies; must never appear in a log line
KNOWN_ACTIONS = ["connect_xero_link", "remove_tenant_open", "export_approve", "export_reject", "export_retry",
                 "export_pick_tenant", "export_open_xero", "import_customers_search", "import_po_status",
                 "import_po_project", "import_po_pick", "reason"]
KNOWN_VIEWS = ["remove_tenant_confirm", "export_reject_reason", "import_customers", "import_purchase_orders",
               "workspace_settings"]
SUBCOMMANDS = ["", "help", "list", "connect", "remove", "remove Demo", "export", "export INV-1 INV-2",
               "import customers", "import purchase-orders", "settings", "help payload", "payload"]
PEOPLE = ["U0ADMIN", "U0MEMBER", "U0APPROVER", "U0LISTED"]


# Strategies -------------------------------------------------------------------------------------------------------

def junk():
    """Any JSON value, including the query operators a database would obey."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.one_of(
        st.just({"$ne": ""}), st.just({"$gt": ""}), st.just([]), st.just(""),
        st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6),
    )


def text():
    with_sentinel = st.builds(lambda t: f"{t} {SENTINEL}", st.text(max_size=10))
    return st.one_of(st.text(max_size=40), st.just(SENTINEL), with_sentinel)


slack_ids = st.one_of(st.sampled_from(PEOPLE), st.from_regex(r"\A[A-Z][A-Z0-9]{1,10}\Z"))
channel_ids = st.sampled_from(["C0GENERAL", "C0APPROVALS", "C0NOPE", "D0ADMIN"])
record_ids = st.one_of(st.uuids().map(str), st.from_regex(r"\A[a-z0-9-]{1,20}\Z"), text())


class Shapes:
    """Payload strategies: well-formed ones (rough=False) reach the listeners; rough ones put junk anywhere."""

    def __init__(self, rough: bool):
        self.rough = rough

    def either(self, good):
        return st.one_of(good, good, good, good, good, good, junk()) if self.rough else good

    def ref(self, ids):
        return self.either(st.fixed_dictionaries({"id": self.either(ids)}))

    def metadata(self):
        good = st.fixed_dictionaries({}, optional={
            "channel_id": self.either(channel_ids), "tenant_id": self.either(record_ids),
            "job_id": self.either(record_ids)}).map(json.dumps)
        return st.one_of(good, good, text(), junk().map(json.dumps), st.just("")) if self.rough else good

    def option(self):
        values = st.one_of(record_ids, st.builds(lambda a, b: f"{a}|{b}", record_ids, record_ids))
        return self.either(st.fixed_dictionaries({"value": self.either(values)}))

    def element(self):
        return self.either(st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["plain_text_input", "static_select", "conversations_select"]),
            "value": self.either(text()), "selected_option": self.either(self.option()),
            "selected_options": self.either(st.lists(self.option(), max_size=3)),
            "selected_conversation": self.either(channel_ids),
            "selected_users": self.either(st.lists(slack_ids, max_size=3)),
        }))

    def state(self):
        block_ids = st.sampled_from(["import_customers_pick", "import_po_pick", "import_po_project",
                                     "import_po_status", "reason", "forecast_api_key", "approval_channel",
                                     "export_status", "x"])
        values = st.dictionaries(block_ids, st.dictionaries(block_ids, self.element(), max_size=2), max_size=4)
        return self.either(st.fixed_dictionaries({"values": self.either(values)}))

    def view(self):
        return self.either(st.fixed_dictionaries({}, optional={
            "id": self.either(st.from_regex(r"\AV[A-Z0-9]{1,8}\Z")),
            "type": self.either(st.sampled_from(["modal", "home"])),
            "callback_id": self.either(st.one_of(st.sampled_from(KNOWN_VIEWS), st.text(max_size=10))),
            "hash": self.either(st.text(max_size=10)), "private_metadata": self.metadata(), "state": self.state(),
            "blocks": self.either(st.lists(st.fixed_dictionaries({"block_id": self.either(st.text(max_size=10))}),
                                           max_size=3)),
        }))

    def interaction(self, kind: str, response_url: str):
        common = {"team": self.ref(st.just(TEAM_ID)), "user": self.ref(slack_ids)}
        optional = {"channel": self.ref(channel_ids), "trigger_id": self.either(st.just("1.2.abc")),
                    "response_url": self.either(st.just(response_url)), "view": self.view()}
        if kind == "block_actions":
            action = self.either(st.fixed_dictionaries(
                {"action_id": self.either(st.one_of(st.sampled_from(KNOWN_ACTIONS), st.text(max_size=10)))},
                optional={"value": self.either(record_ids), "selected_option": self.option(),
                          "selected_options": self.either(st.lists(self.option(), max_size=3)),
                          "type": st.just("button")}))
            common["actions"] = self.either(st.lists(action, min_size=1, max_size=2))
            optional |= {"message": self.either(st.fixed_dictionaries({"ts": self.either(st.just("1.0"))})),
                         "state": self.state()}
        if kind == "block_suggestion":
            common["action_id"] = self.either(st.one_of(st.just("import_customers_search"), st.text(max_size=10)))
            optional["value"] = self.either(text())
        if kind == "view_submission":
            common["view"] = optional.pop("view")
        kinds = st.one_of(st.just(kind), st.just(kind), junk()) if self.rough else st.just(kind)
        return st.fixed_dictionaries({"type": kinds, **common}, optional=optional)

    def event(self):
        event = st.fixed_dictionaries({"type": self.either(st.sampled_from(["app_home_opened", "message", "x"]))},
                                      optional={"user": self.either(slack_ids), "tab": self.either(st.just("home")),
                                                "view": self.view(), "channel": self.either(channel_ids)})
        callback = st.fixed_dictionaries(
            {"type": st.just("event_callback"), "team_id": self.either(st.just(TEAM_ID)), "event": self.either(event)},
            optional={"api_app_id": st.just("A0TEST"), "event_id": self.either(st.just("Ev1"))})
        check = st.fixed_dictionaries({"type": st.just("url_verification"), "challenge": self.either(text())})
        return st.one_of(callback, callback, check)

    def command_form(self, response_url: str):
        required = {"command": st.just("/xero"), "team_id": st.just(TEAM_ID), "user_id": slack_ids,
                    "channel_id": channel_ids, "trigger_id": st.just("1.2.abc"), "response_url": st.just(response_url),
                    "text": st.one_of(st.sampled_from(SUBCOMMANDS), text())}
        optional = {"channel_name": st.sampled_from(["general", "payload-team"]), "token": st.just("legacy"),
                    "api_app_id": st.just("A0TEST")}
        if self.rough:
            optional = {key: st.one_of(value, text()) for key, value in {**required, **optional}.items()}
            required = {}
        return st.fixed_dictionaries(required, optional=optional)


shapes = st.sampled_from([Shapes(rough=False), Shapes(rough=True)])


def form_of(payload) -> str:
    """Interactions come as `payload=<JSON>`; payloads that are not even dicts are still sent."""
    return urlencode({"payload": json.dumps(payload)})


garbage = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(lambda d: urlencode(d).encode()),
    st.integers(1, 4000).map(lambda n: ("payload=" + "[" * n + "]" * n).encode()),
    st.integers(1, 4000).map(lambda n: ("payload=" + '{"a":' * n + "1" + "}" * n).encode()),
    junk().map(lambda value: ("payload=" + json.dumps(value)).encode()),
    junk().map(lambda value: json.dumps(value).encode()),
    st.text(max_size=100).map(lambda t: f"payload={t}&command=/xero&text={SENTINEL}".encode()),
)

signing = st.sampled_from(["valid"] * 8 + ["none", "forged", "stale", "future", "bad_timestamp", "bad_signature",
                                          "no_signature"])
# for the timestamp or signature header; \r, \n and NUL cannot be sent at all (aiohttp's client refuses them)
odd_header_values = st.one_of(st.text(max_size=12).filter(lambda t: not set(t) & set("\r\n\x00")),
                           st.sampled_from(["abc", "", "1e9", "-1", "١٢٣", "9" * 30, "\x1f"]))


def sign(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """As Slack signs; bytes that are not UTF-8 (Slack never sends them) are signed as their lenient decoding."""
    return signed_headers(body.decode("utf-8", "replace"), secret=secret, timestamp=timestamp)


def headers_for(body: bytes, how: str, odd_value: str, content_type: str) -> dict:
    now = int(time.time())
    if how == "none":
        return {"Content-Type": content_type}
    base = {"forged": lambda: sign(body, secret="forged-secret-0000"), "stale": lambda: sign(body, timestamp=now - 400),
            "future": lambda: sign(body, timestamp=now + 400)}.get(how, lambda: sign(body))()
    base["Content-Type"] = content_type
    if how == "bad_timestamp":
        base["X-Slack-Request-Timestamp"] = odd_value
    if how == "bad_signature":
        base["X-Slack-Signature"] = odd_value + "v0=é" + base["X-Slack-Signature"][4:]
    if how == "no_signature":
        base.pop("X-Slack-Signature")
    return base


# The bot, once for the module, on its own event loop ------------------------------------------------------------

class Collector(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class FuzzBot:
    def __init__(self, mongo_uri: str):
        self.loop = asyncio.new_event_loop()
        self.storage = Storage(mongo_uri, f"fuzz_{uuid.uuid4().hex[:12]}")
        self.loop.run_until_complete(self.storage.connect())
        self.outside = aioresponses(passthrough=["http://127.0.0.1"])  # Xero or Forecast: refused, not reached
        self.outside.start()
        self.harness = self.loop.run_until_complete(start_harness(self.storage))
        self.response_url = self.harness.slack.response_url("fuzz")
        self.logs = Collector()
        self.sent = 0

    def post(self, body: bytes, headers: dict) -> int:
        async def send():
            response = await self.harness.client.post("/slack/events", data=body, headers=headers)
            await response.read()
            return response.status

        self.sent += 1
        return self.loop.run_until_complete(send())

    def settle(self) -> None:
        """Let what the listeners do after their ack finish, so its logs are in."""
        self.loop.run_until_complete(asyncio.sleep(0.5))

    def close(self) -> None:
        self.loop.run_until_complete(stop_harness(self.harness))
        self.loop.run_until_complete(self.storage.client.drop_database(self.storage.db.name))
        self.loop.run_until_complete(self.storage.close())
        self.outside.stop()
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz(mongo_uri):
    bot = FuzzBot(mongo_uri)
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.INFO)  # what production logs (LOG_LEVEL=INFO)
    root.addHandler(bot.logs)
    yield bot
    root.removeHandler(bot.logs)
    root.setLevel(previous)
    bot.close()


@pytest.fixture
def checked(fuzz):
    """After each kind: nothing logged a traceback, an error, a body or a secret."""
    fuzz.logs.records.clear()
    yield fuzz
    fuzz.settle()
    problems = [r for r in fuzz.logs.records if r.exc_info or r.levelno >= logging.ERROR]
    assert problems == [], [(r.name, r.getMessage(), r.exc_info and r.exc_info[1]) for r in problems[:5]]
    lines = [f"{r.name}: {r.getMessage()} {getattr(r, 'fields', '')}" for r in fuzz.logs.records]
    leaks = [line for line in lines
             if any(secret in line for secret in (SENTINEL, SIGNING_SECRET, "forged-secret-0000", "Traceback"))]
    assert leaks == []


def check(fuzz: FuzzBot, body: bytes, how: str, odd_value: str, content_type: str) -> None:
    status = fuzz.post(body, headers_for(body, how, odd_value, content_type))
    assert status < 500
    if how in ("bad_timestamp", "bad_signature") and any(ord(c) < 32 or ord(c) == 127 for c in odd_value):
        assert status in (400, 401)  # aiohttp's HTTP parser refuses control characters in headers itself
    elif how != "valid":
        assert status in (401, 413)


# The properties ---------------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.data(), shape=shapes, how=signing, odd_value=odd_header_values)
def test_slash_commands(checked, data, shape, how, odd_value):
    form = data.draw(shape.command_form(checked.response_url))
    check(checked, urlencode(form).encode(), how, odd_value, "application/x-www-form-urlencoded")


@pytest.mark.parametrize("kind", ["block_actions", "view_submission", "block_suggestion"])
def test_interactions(checked, kind):
    @FUZZ
    @given(data=st.data(), shape=shapes, how=signing, odd_value=odd_header_values)
    def run(data, shape, how, odd_value):
        payload = data.draw(shape.interaction(kind, checked.response_url))
        check(checked, form_of(payload).encode(), how, odd_value, "application/x-www-form-urlencoded")

    run()


@FUZZ
@given(data=st.data(), shape=shapes, how=signing, odd_value=odd_header_values)
def test_events(checked, data, shape, how, odd_value):
    body = json.dumps(data.draw(shape.event())).encode()
    check(checked, body, how, odd_value, "application/json")


@FUZZ
@given(body=garbage, how=signing, odd_value=odd_header_values,
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", ""]))
def test_garbage_bodies_and_headers(checked, body, how, odd_value, content_type):
    check(checked, body, how, odd_value, content_type)

