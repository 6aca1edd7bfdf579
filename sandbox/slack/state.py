"""In-memory (optionally JSON-persisted) state of the sandbox Slack workspace.

Fixed demo data (team, users, channels, user group) lives in module constants; what changes
(messages, modals, response_url tokens) lives in `SlackState` and is saved to `slack.json`
after every change. Recorded API calls, bot requests and trigger ids are kept in memory only.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any, Callable

TEAM = {"id": "T0SANDBOX", "name": "Sandbox Finance", "domain": "sandbox-finance"}
API_APP_ID = "A0SANDBOX"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
SLACKBOT_USER_ID = "USLACKBOT"
TRIGGER_LIFETIME_SECONDS = 3.0
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60
RESPONSE_URL_MAX_USES = 5
MAX_VIEW_STACK = 3

USERS: dict[str, dict[str, Any]] = {
    "U0ADMIN": {"name": "ada", "real_name": "Ada Admin", "is_admin": True, "is_owner": True, "color": "#4a154b"},
    "U0APPROVER": {"name": "grace", "real_name": "Grace Approver", "is_admin": True, "is_owner": False,
                   "color": "#1264a3"},
    "U0MEMBER": {"name": "max", "real_name": "Max Member", "is_admin": False, "is_owner": False, "color": "#2eb67d"},
    BOT_USER_ID: {"name": "ledgerline", "real_name": "Ledgerline", "is_admin": False, "is_owner": False,
                  "is_bot": True, "color": "#13b5ea"},
    SLACKBOT_USER_ID: {"name": "slackbot", "real_name": "Slackbot", "is_admin": False, "is_owner": False,
                       "is_bot": True, "color": "#e01e5a"},
}
HUMAN_USER_IDS = ["U0ADMIN", "U0APPROVER", "U0MEMBER"]

PUBLIC_CHANNELS: dict[str, dict[str, Any]] = {
    "C0GENERAL": {"name": "general", "purpose": "Company-wide announcements", "is_general": True},
    "C0APPROVALS": {"name": "finance-approvals", "purpose": "Approve invoices and purchase orders",
                    "is_general": False},
    "C0ALERTS": {"name": "finance-alerts", "purpose": "Sync alerts from Ledgerline", "is_general": False},
}

USERGROUPS: dict[str, dict[str, Any]] = {
    "S0APPROVERS": {"name": "Finance approvers", "handle": "finance-approvers",
                    "description": "People who approve spend", "users": ["U0APPROVER"]},
}


def dm_channel_id(user_id: str) -> str:
    """The bot's DM with a user: U0ADMIN -> D0ADMIN."""
    return "D" + user_id[1:]


DM_CHANNELS: dict[str, str] = {dm_channel_id(uid): uid for uid in HUMAN_USER_IDS}


def user_object(user_id: str) -> dict[str, Any]:
    """A users.info-shaped user."""
    user = USERS[user_id]
    return {
        "id": user_id,
        "team_id": TEAM["id"],
        "name": user["name"],
        "real_name": user["real_name"],
        "deleted": False,
        "is_admin": user["is_admin"],
        "is_owner": user["is_owner"],
        "is_primary_owner": user["is_owner"],
        "is_bot": bool(user.get("is_bot")),
        "is_app_user": False,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "color": user["color"].lstrip("#"),
        "profile": {
            "real_name": user["real_name"],
            "display_name": user["real_name"].split()[0],
            "email": f"{user['name']}@sandbox-finance.example",
            "team": TEAM["id"],
            **({"bot_id": BOT_ID} if user_id == BOT_USER_ID else {}),
        },
    }


def channel_object(channel_id: str) -> dict[str, Any] | None:
    """A conversations.info-shaped channel, or None when unknown."""
    if channel_id in PUBLIC_CHANNELS:
        channel = PUBLIC_CHANNELS[channel_id]
        return {
            "id": channel_id, "name": channel["name"], "is_channel": True, "is_group": False, "is_im": False,
            "is_mpim": False, "is_private": False, "is_archived": False, "is_general": channel["is_general"],
            "is_member": True, "created": 1700000000, "creator": "U0ADMIN",
            "purpose": {"value": channel["purpose"]}, "topic": {"value": ""},
            "num_members": len(HUMAN_USER_IDS) + 1,
        }
    if channel_id in DM_CHANNELS:
        return {"id": channel_id, "is_channel": False, "is_group": False, "is_im": True, "is_mpim": False,
                "is_private": True, "is_archived": False, "user": DM_CHANNELS[channel_id], "created": 1700000000,
                "is_open": True}
    return None


def usergroup_object(group_id: str, include_users: bool = False) -> dict[str, Any]:
    group = USERGROUPS[group_id]
    result = {"id": group_id, "team_id": TEAM["id"], "is_usergroup": True, "name": group["name"],
              "handle": group["handle"], "description": group["description"], "user_count": len(group["users"]),
              "date_delete": 0, "is_external": False}
    if include_users:
        result["users"] = list(group["users"])
    return result


def resolve_channel(reference: str) -> str | None:
    """Accepts a channel id, a DM id, a user id (-> the bot's DM) or a #name; returns the channel id."""
    reference = (reference or "").strip()
    if reference in PUBLIC_CHANNELS or reference in DM_CHANNELS:
        return reference
    if reference in USERS and reference in HUMAN_USER_IDS:
        return dm_channel_id(reference)
    name = reference.lstrip("#")
    for channel_id, channel in PUBLIC_CHANNELS.items():
        if channel["name"] == name:
            return channel_id
    return None


def visible_channel_ids(user_id: str) -> list[str]:
    return [*PUBLIC_CHANNELS, dm_channel_id(user_id)]


def random_id(prefix: str, length: int = 10) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _fill_missing_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slack gives blocks and interactive elements ids when the app leaves them out."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", random_id("", 5).lower())
        elements = []
        if block.get("type") == "actions":
            elements = block.get("elements") or []
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            elements = [block["element"]]
        elif isinstance(block.get("accessory"), dict):
            elements = [block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in ("image",):
                element.setdefault("action_id", random_id("", 5).lower())
    return blocks


class SlackState:
    """Everything the sandbox workspace remembers; tests read it through `app[SLACK_STATE]`."""

    def __init__(self, data_dir: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(data_dir) / "slack.json" if data_dir is not None else None
        self.clock = clock
        self.channel_messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in [*PUBLIC_CHANNELS, *DM_CHANNELS]}
        self.views: dict[str, dict[str, Any]] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.response_urls: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> the Home tab the bot published for them
        self.files: dict[str, dict[str, Any]] = {}  # file id -> name, title, length, content (files.uploadV2)
        self.triggers: dict[str, dict[str, Any]] = {}
        self.api_calls: list[dict[str, Any]] = []
        self.bot_requests: list[dict[str, Any]] = []
        self.version = 0
        self._last_ts = 0.0
        self._changed = asyncio.Event()
        self._load()

    # ---- persistence -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        saved = json.loads(self.path.read_text(encoding="utf-8"))
        for channel_id, messages in saved.get("channel_messages", {}).items():
            self.channel_messages[channel_id] = messages
        self.views = saved.get("views", {})
        self.modal_stacks = saved.get("modal_stacks", {})
        self.response_urls = saved.get("response_urls", {})
        self.home_views = saved.get("home_views", {})
        self.files = saved.get("files", {})
        self._last_ts = saved.get("last_ts", 0.0)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"channel_messages": self.channel_messages, "views": self.views,
                    "modal_stacks": self.modal_stacks, "response_urls": self.response_urls,
                    "home_views": self.home_views, "files": self.files, "last_ts": self._last_ts}
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
        temporary.replace(self.path)

    def changed(self) -> None:
        """Persist, bump the version and wake everyone waiting (tests, SSE streams)."""
        self._save()
        self._notify()

    def _notify(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Wake waiters without a change (used on shutdown so open event streams end)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[SlackState], Any], timeout: float = 3.0) -> Any:
        """Wait until predicate(state) is truthy (re-checked after every change); returns its value."""
        async def _wait() -> Any:
            while True:
                event = self._changed
                result = predicate(self)
                if result:
                    return result
                await event.wait()
        return await asyncio.wait_for(_wait(), timeout)

    async def wait_for_change(self, since_version: int, timeout: float) -> None:
        if self.version != since_version:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    # ---- messages ----------------------------------------------------------------------------------
    def next_ts(self) -> str:
        candidate = round(max(self.clock(), self._last_ts + 0.000001), 6)
        self._last_ts = candidate
        return f"{candidate:.6f}"

    def add_message(self, channel_id: str, *, user: str, text: str = "", blocks: list | None = None,
                    ephemeral_to: str | None = None, thread_ts: str | None = None,
                    metadata: dict[str, Any] | None = None, files: list | None = None) -> dict[str, Any]:
        message = {"type": "message", "ts": self.next_ts(), "channel": channel_id, "user": user,
                   "text": text or "", "blocks": _fill_missing_ids(blocks or []), "ephemeral_to": ephemeral_to,
                   "edited": False}
        if files:
            message["files"] = files
        if metadata:
            message["metadata"] = metadata
        if user == BOT_USER_ID:
            message["bot_id"] = BOT_ID
            message["app_id"] = API_APP_ID
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.channel_messages.setdefault(channel_id, []).append(message)
        self.changed()
        return message

    def find_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        for message in self.channel_messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        return None

    def update_message(self, message: dict[str, Any], *, text: str | None, blocks: list | None) -> None:
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = _fill_missing_ids(blocks)
        message["edited"] = True
        self.changed()

    def delete_message(self, channel_id: str, ts: str) -> bool:
        messages = self.channel_messages.get(channel_id, [])
        remaining = [m for m in messages if m["ts"] != ts]
        if len(remaining) == len(messages):
            return False
        self.channel_messages[channel_id] = remaining
        self.changed()
        return True

    def messages(self, channel_id: str, *, viewer: str | None = None) -> list[dict[str, Any]]:
        """Messages of a channel; with a viewer, only the ephemerals meant for that viewer."""
        return [m for m in self.channel_messages.get(channel_id, [])
                if viewer is None or m.get("ephemeral_to") in (None, viewer)]

    def all_messages(self) -> list[dict[str, Any]]:
        return [m for messages in self.channel_messages.values() for m in messages]

    # ---- triggers and response urls --------------------------------------------------------------
    def new_trigger(self, user_id: str) -> str:
        trigger_id = f"{int(self.clock())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = {"user": user_id, "created": self.clock()}
        return trigger_id

    def use_trigger(self, trigger_id: str | None) -> str | None:
        """The trigger's user when the trigger is known and fresh; None otherwise."""
        trigger = self.triggers.get(trigger_id or "")
        if trigger is None or self.clock() - trigger["created"] > TRIGGER_LIFETIME_SECONDS:
            return None
        return trigger["user"]

    def new_response_url_token(self, *, channel_id: str, user_id: str, message_ts: str | None) -> str:
        token = secrets.token_urlsafe(18)
        self.response_urls[token] = {"channel": channel_id, "user": user_id, "message_ts": message_ts,
                                     "created": self.clock(), "uses": 0}
        self._save()
        return token

    # ---- modals ------------------------------------------------------------------------------------
    def modal_stack(self, user_id: str) -> list[dict[str, Any]]:
        return [self.views[vid] for vid in self.modal_stacks.get(user_id, []) if vid in self.views]

    def top_view(self, user_id: str) -> dict[str, Any] | None:
        stack = self.modal_stack(user_id)
        return stack[-1] if stack else None

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{secrets.token_hex(4)}"

    def _view_object(self, view_id: str, view: dict[str, Any], *, root_view_id: str,
                     previous_view_id: str | None) -> dict[str, Any]:
        blocks = _fill_missing_ids(view.get("blocks") or [])
        return {
            "id": view_id, "team_id": TEAM["id"], "type": view.get("type", "modal"),
            "title": view.get("title"), "submit": view.get("submit"), "close": view.get("close"),
            "blocks": blocks, "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""), "external_id": view.get("external_id", ""),
            "state": {"values": {}}, "hash": self._new_hash(),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "submit_disabled": bool(view.get("submit_disabled", False)),
            "root_view_id": root_view_id, "previous_view_id": previous_view_id,
            "app_id": API_APP_ID, "app_installed_team_id": TEAM["id"], "bot_id": BOT_ID,
        }

    def publish_home(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """views.publish: the user's Home tab (one per user, replaced on every publish)."""
        view_id = f"VH{user_id}"
        published = self._view_object(view_id, view, root_view_id=view_id, previous_view_id=None)
        self.home_views[user_id] = published
        self.changed()
        return published

    def open_view(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """A new stack with one view (replacing whatever modal the user had open)."""
        view_id = random_id("V")
        record = {"user": user_id, "errors": {}, "notice": "",
                  "view": self._view_object(view_id, view, root_view_id=view_id, previous_view_id=None)}
        self.views[view_id] = record
        self.modal_stacks[user_id] = [view_id]
        self.changed()
        return record

    def push_view(self, user_id: str, view: dict[str, Any]) -> dict[str, Any] | None:
        stack = self.modal_stacks.get(user_id, [])
        if not stack or len(stack) >= MAX_VIEW_STACK:
            return None
        view_id = random_id("V")
        record = {"user": user_id, "errors": {}, "notice": "",
                  "view": self._view_object(view_id, view, root_view_id=stack[0], previous_view_id=stack[-1])}
        self.views[view_id] = record
        stack.append(view_id)
        self.changed()
        return record

    def replace_view(self, record: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
        old = record["view"]
        record["view"] = self._view_object(old["id"], view, root_view_id=old["root_view_id"],
                                           previous_view_id=old["previous_view_id"])
        record["errors"] = {}
        record["notice"] = ""
        self.changed()
        return record

    def find_open_view(self, *, view_id: str | None = None, external_id: str | None = None) -> dict | None:
        open_ids = {vid for stack in self.modal_stacks.values() for vid in stack}
        for vid in open_ids:
            record = self.views.get(vid)
            if record is None:
                continue
            if view_id and vid == view_id:
                return record
            if external_id and record["view"].get("external_id") == external_id:
                return record
        return None

    def close_views(self, user_id: str, *, view_id: str, whole_stack: bool) -> list[dict[str, Any]]:
        """Pops view_id (and everything above it) or the whole stack; returns the closed view records."""
        stack = self.modal_stacks.get(user_id, [])
        if view_id not in stack:
            return []
        cut = 0 if whole_stack else stack.index(view_id)
        closed_ids = stack[cut:]
        self.modal_stacks[user_id] = stack[:cut]
        closed = [self.views.pop(vid) for vid in reversed(closed_ids) if vid in self.views]
        self.changed()
        return closed

    def set_view_feedback(self, record: dict[str, Any], *, errors: dict | None = None, notice: str = "") -> None:
        record["errors"] = errors or {}
        record["notice"] = notice
        self.changed()

    # ---- recording ---------------------------------------------------------------------------------
    def record_api_call(self, method: str, args: dict[str, Any], response: dict[str, Any], *,
                        team: str | None = None) -> None:
        """`team`: the workspace whose bot token made the call."""
        self.api_calls.append({"method": method, "args": args, "response": response, "team": team})
        self._notify()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call for call in self.api_calls if call["method"] == method]

    def record_bot_request(self, entry: dict[str, Any]) -> None:
        self.bot_requests.append(entry)
        self._notify()
