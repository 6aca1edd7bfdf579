"""The Web API methods the bot calls (`/api/<method>`), answering in Slack's shapes."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from sandbox.slack.state import (
    API_APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DM_CHANNELS,
    HUMAN_USER_IDS,
    MAX_VIEW_STACK,
    PUBLIC_CHANNELS,
    TEAM,
    USERGROUPS,
    USERS,
    SlackState,
    channel_object,
    dm_channel_id,
    resolve_channel,
    user_object,
    usergroup_object,
)

JSON_STRING_ARGS = ("blocks", "view", "attachments", "metadata")
MAX_TITLE_LENGTH = 24
MAX_BUTTON_LENGTH = 24


class SlackApiFailure(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def decode_json_strings(args: dict[str, Any]) -> dict[str, Any]:
    """Form bodies carry blocks/view as JSON strings; JSON bodies carry them as objects."""
    decoded = dict(args)
    for key in JSON_STRING_ARGS:
        value = decoded.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                decoded[key] = json.loads(value)
            except json.JSONDecodeError as error:
                raise SlackApiFailure("invalid_arguments", response_metadata={"messages": [
                    f"[ERROR] failed to parse {key} as JSON: {error.msg}"]}) from error
    return decoded


def public_message(message: dict[str, Any]) -> dict[str, Any]:
    hidden = {"ephemeral_to", "edited", "channel"}
    result = {k: v for k, v in message.items() if k not in hidden}
    result["team"] = TEAM["id"]
    if message.get("edited"):
        result["edited"] = {"user": message["user"], "ts": message["ts"]}
    return result


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _channel(args: dict[str, Any]) -> str:
    channel_id = resolve_channel(str(args.get("channel", "")))
    if channel_id is None:
        raise SlackApiFailure("channel_not_found")
    return channel_id


def _blocks(args: dict[str, Any]) -> list | None:
    blocks = args.get("blocks")
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise SlackApiFailure("invalid_blocks_format")
    return blocks


def _plain_length_errors(obj: Any, pointer: str, limit: int) -> list[str]:
    if isinstance(obj, dict) and len(str(obj.get("text", ""))) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def validate_view(view: Any) -> None:
    """The checks Slack makes that a bot most often trips over."""
    if not isinstance(view, dict):
        raise SlackApiFailure("invalid_arguments",
                              response_metadata={"messages": ["[ERROR] missing required field: view"]})
    messages: list[str] = []
    if view.get("type") not in ("modal", "home"):
        messages.append("[ERROR] must be one of modal, home [json-pointer:/view/type]")
    if view.get("type") == "modal" and not isinstance(view.get("title"), dict):
        messages.append("[ERROR] missing required field: title [json-pointer:/view]")
    for field in ("title", "submit", "close"):
        messages += _plain_length_errors(view.get(field), f"/view/{field}", MAX_TITLE_LENGTH)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        messages.append("[ERROR] missing required field: blocks [json-pointer:/view]")
    elif any(isinstance(b, dict) and b.get("type") == "input" for b in blocks) and not view.get("submit"):
        messages.append("[ERROR] must provide a submit property when using input blocks [json-pointer:/view]")
    if len(str(view.get("private_metadata", ""))) > 3000:
        messages.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
    if messages:
        raise SlackApiFailure("invalid_arguments", response_metadata={"messages": messages})


class WebApi:
    """Method table; every handler returns the `{"ok": true, ...}` body or raises SlackApiFailure."""

    def __init__(self, state: SlackState, *, base_url: str) -> None:
        self.state = state
        self.base_url = base_url
        self.methods: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]] = {
            "api.test": lambda args: {"args": args},
            "auth.test": self.auth_test,
            "team.info": lambda args: {"team": {**TEAM, "url": "https://sandbox-finance.slack.com/"}},
            "users.info": self.users_info,
            "users.list": self.users_list,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "views.publish": self.views_publish,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.info": self.conversations_info,
            "conversations.list": self.conversations_list,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
        }

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = self.methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return {"ok": True, **handler(decode_json_strings(args))}
        except SlackApiFailure as failure:
            return {"ok": False, "error": failure.error, **failure.extra}

    # ---- identity ----------------------------------------------------------------------------------
    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://sandbox-finance.slack.com/", "team": TEAM["name"], "user": "ledgerline",
                "team_id": TEAM["id"], "user_id": BOT_USER_ID, "bot_id": BOT_ID, "app_id": API_APP_ID,
                "is_enterprise_install": False}

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("user") not in USERS:
            raise SlackApiFailure("user_not_found")
        return {"user": user_object(args["user"])}

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"members": [user_object(uid) for uid in USERS], "cache_ts": int(self.state.clock()),
                "response_metadata": {"next_cursor": ""}}

    # ---- messages ----------------------------------------------------------------------------------
    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _channel(args)
        blocks = _blocks(args)
        if not args.get("text") and not blocks and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        metadata = args.get("metadata") if isinstance(args.get("metadata"), dict) else None
        message = self.state.add_message(channel_id, user=BOT_USER_ID, text=str(args.get("text") or ""),
                                         blocks=blocks, thread_ts=args.get("thread_ts"), metadata=metadata)
        return {"channel": channel_id, "ts": message["ts"], "message": public_message(message)}

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _channel(args)
        user_id = args.get("user")
        if user_id not in HUMAN_USER_IDS:
            raise SlackApiFailure("user_not_found")
        if channel_id in DM_CHANNELS and DM_CHANNELS[channel_id] != user_id:
            raise SlackApiFailure("user_not_in_channel")
        blocks = _blocks(args)
        if not args.get("text") and not blocks and not args.get("attachments"):
            raise SlackApiFailure("no_text")
        message = self.state.add_message(channel_id, user=BOT_USER_ID, text=str(args.get("text") or ""),
                                         blocks=blocks, ephemeral_to=user_id)
        return {"message_ts": message["ts"]}

    def _own_message(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        channel_id = _channel(args)
        message = self.state.find_message(channel_id, str(args.get("ts", "")))
        if message is None or message.get("ephemeral_to"):
            raise SlackApiFailure("message_not_found")
        if message["user"] != BOT_USER_ID:
            raise SlackApiFailure("cant_update_message")
        return channel_id, message

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id, message = self._own_message(args)
        text = args.get("text")
        self.state.update_message(message, text=None if text is None else str(text), blocks=_blocks(args))
        return {"channel": channel_id, "ts": message["ts"], "text": message["text"],
                "message": public_message(message)}

    def chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id, message = self._own_message(args)
        self.state.delete_message(channel_id, message["ts"])
        return {"channel": channel_id, "ts": message["ts"]}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = _channel(args)
        ts = str(args.get("message_ts", ""))
        if self.state.find_message(channel_id, ts) is None:
            raise SlackApiFailure("message_not_found")
        return {"channel": channel_id, "permalink": f"{self.base_url}/#{channel_id}/p{ts.replace('.', '')}"}

    # ---- modals ------------------------------------------------------------------------------------
    def _trigger_user(self, args: dict[str, Any]) -> str:
        user_id = self.state.use_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
        if user_id is None:
            raise SlackApiFailure("expired_trigger_id")
        return user_id

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        validate_view(view)
        user_id = self._trigger_user(args)
        return {"view": self.state.open_view(user_id, view)["view"]}

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        validate_view(view)
        if view.get("type") != "home":
            raise SlackApiFailure("invalid_arguments", response_metadata={
                "messages": ["[ERROR] views.publish takes a view of type home [json-pointer:/view/type]"]})
        user_id = args.get("user_id")
        if user_id not in HUMAN_USER_IDS:
            raise SlackApiFailure("user_not_found")
        return {"view": self.state.publish_home(user_id, view)}

    def views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        validate_view(view)
        user_id = self._trigger_user(args)
        if len(self.state.modal_stacks.get(user_id, [])) >= MAX_VIEW_STACK:
            raise SlackApiFailure("push_limit_reached")
        record = self.state.push_view(user_id, view)
        if record is None:
            raise SlackApiFailure("not_found")
        return {"view": record["view"]}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        validate_view(view)
        record = self.state.find_open_view(view_id=args.get("view_id"), external_id=args.get("external_id"))
        if record is None:
            raise SlackApiFailure("not_found")
        if args.get("hash") and args["hash"] != record["view"]["hash"]:
            raise SlackApiFailure("hash_conflict")
        values = record["view"]["state"]["values"]
        record = self.state.replace_view(record, view)
        record["view"]["state"]["values"] = values
        return {"view": record["view"]}

    # ---- files (files.uploadV2: an upload URL, the upload, then the completion shares it) ----------------------
    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            length = 0
        if not filename or length <= 0:
            raise SlackApiFailure("invalid_arguments", response_metadata={"messages": [
                "[ERROR] filename and a positive length are required"]})
        file_id = f"F{len(self.state.files) + 1:08d}"
        self.state.files[file_id] = {"id": file_id, "name": filename, "length": length, "content": None}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """POST to an upload URL: the bytes of a file announced by files.getUploadURLExternal."""
        record = self.state.files.get(file_id)
        if record is None:
            return 404, "file not found"
        if len(data) != record["length"]:
            return 400, f"length mismatch: announced {record['length']}, received {len(data)}"
        record["content"] = data.decode("utf-8", errors="replace")
        return 200, f"OK - {len(data)}"

    def files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except json.JSONDecodeError:
                files = None
        if not isinstance(files, list) or not files:
            raise SlackApiFailure("invalid_arguments")
        shared = []
        for item in files:
            record = self.state.files.get(str((item or {}).get("id")))
            if record is None or record["content"] is None:
                raise SlackApiFailure("file_not_found")
            record["title"] = item.get("title") or record["name"]
            shared.append({"id": record["id"], "name": record["name"], "title": record["title"],
                           "size": record["length"], "mimetype": "text/csv" if record["name"].endswith(".csv")
                           else "text/plain", "url_private": f"{self.base_url}/files/{record['id']}"})
        if args.get("channel_id"):
            channel_id = _channel({"channel": args["channel_id"]})
            self.state.add_message(channel_id, user=BOT_USER_ID, text=str(args.get("initial_comment") or ""),
                                   files=shared, thread_ts=args.get("thread_ts"))
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def file_content(self, file_id: str) -> dict[str, Any] | None:
        record = self.state.files.get(file_id)
        return record if record and record["content"] is not None else None

    # ---- conversations and groups -----------------------------------------------------------------
    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = channel_object(_channel(args))
            return {"channel": channel, "no_op": True, "already_open": True}
        users = args.get("users") or ""
        user_ids = [u.strip() for u in (users if isinstance(users, list) else str(users).split(",")) if u.strip()]
        if not user_ids:
            raise SlackApiFailure("users_list_not_supplied")
        if len(user_ids) > 1:
            raise SlackApiFailure("not_supported", detail="group DMs are not part of the sandbox")
        if user_ids[0] not in HUMAN_USER_IDS:
            raise SlackApiFailure("user_not_found")
        channel = channel_object(dm_channel_id(user_ids[0]))
        if not _truthy(args.get("return_im")):
            channel = {"id": channel["id"]}
        return {"channel": channel, "no_op": True, "already_open": True}

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first; metadata only with include_all_metadata, as Slack does."""
        channel_id = _channel(args)
        oldest = float(args.get("oldest") or 0)
        limit = max(1, min(int(args.get("limit") or 100), 999))
        with_metadata = _truthy(args.get("include_all_metadata"))
        found = [m for m in self.state.channel_messages.get(channel_id, [])
                 if not m.get("ephemeral_to") and not m.get("thread_ts") and float(m["ts"]) > oldest]
        messages = []
        for message in reversed(found[-limit:]):
            shown = public_message(message)
            if not with_metadata:
                shown.pop("metadata", None)
            messages.append(shown)
        return {"messages": messages, "has_more": len(found) > limit, "response_metadata": {"next_cursor": ""}}

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread, oldest first: the parent, then its replies after `oldest`; metadata as in history."""
        channel_id = _channel(args)
        parent = self.state.find_message(channel_id, str(args.get("ts", "")))
        if parent is None or parent.get("ephemeral_to"):
            raise SlackApiFailure("thread_not_found")
        oldest = float(args.get("oldest") or 0)
        limit = max(1, min(int(args.get("limit") or 1000), 1000))
        with_metadata = _truthy(args.get("include_all_metadata"))
        replies = [m for m in self.state.channel_messages.get(channel_id, [])
                   if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"] and not m.get("ephemeral_to")
                   and float(m["ts"]) > oldest]
        messages = []
        for message in [parent, *replies][:limit]:
            shown = public_message(message)
            if not with_metadata:
                shown.pop("metadata", None)
            messages.append(shown)
        return {"messages": messages, "has_more": len(replies) + 1 > limit, "response_metadata": {"next_cursor": ""}}

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": channel_object(_channel(args))}

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        channels = []
        if "public_channel" in types:
            channels += [channel_object(cid) for cid in PUBLIC_CHANNELS]
        if "im" in types:
            channels += [channel_object(cid) for cid in DM_CHANNELS]
        return {"channels": channels, "response_metadata": {"next_cursor": ""}}

    def usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include_users = _truthy(args.get("include_users"))
        return {"usergroups": [usergroup_object(gid, include_users) for gid in USERGROUPS]}

    def usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group_id = args.get("usergroup")
        if group_id not in USERGROUPS:
            raise SlackApiFailure("no_such_subteam")
        return {"users": list(USERGROUPS[group_id]["users"])}
