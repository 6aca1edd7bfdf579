"""The sandbox Slack workspace: Web API for the bot, signed requests to the bot, and the browser page.

Mounted by the sandbox server as a sub-app at `/slack`:
  /slack/                  the workspace page (static/workspace.html)
  /slack/api/<method>      the Web API (SLACK_API_URL = {public_base_url}/api/)
  /slack/response/<token>  response_url endpoints
  /slack/ui/...            JSON endpoints the page calls (state, stream, message, action, submit, close, options)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel, ValidationError

from sandbox.slack.dispatch import ACK_TIMEOUT_SECONDS, VERIFICATION_TOKEN, BotAnswer, BotDispatcher
from sandbox.slack.installs import Installs, consent_routes
from sandbox.slack.socket_mode import SocketHub
from sandbox.slack.state import (
    API_APP_ID,
    BOT_USER_ID,
    DM_CHANNELS,
    HUMAN_USER_IDS,
    PUBLIC_CHANNELS,
    RESPONSE_URL_LIFETIME_SECONDS,
    RESPONSE_URL_MAX_USES,
    SLACKBOT_USER_ID,
    TEAM,
    USERGROUPS,
    USERS,
    SlackState,
    dm_channel_id,
    visible_channel_ids,
)
from sandbox.slack.webapi import WebApi, public_message

SLACK_STATE: web.AppKey[SlackState] = web.AppKey("slack_state", SlackState)
SLACK_INSTALLS: web.AppKey[Installs] = web.AppKey("slack_installs", Installs)
SLACK_DISPATCHER: web.AppKey[BotDispatcher] = web.AppKey("slack_dispatcher", BotDispatcher)
STATIC_DIR = Path(__file__).parent / "static"
SLASH_COMMANDS = ("/xero",)
REQUIRED_FIELD_ERROR = "Please complete this required field."
CONNECTION_TROUBLE = "We had some trouble connecting. Try again?"
SSE_PING_SECONDS = 15.0


# ---- requests from the page -------------------------------------------------------------------------
class PageRequest(BaseModel):
    user: str


class ComposerRequest(PageRequest):
    channel: str
    text: str


class ActionRequest(PageRequest):
    block_id: str
    action_id: str
    channel: str | None = None
    message_ts: str | None = None
    view_id: str | None = None
    selection: dict[str, Any] = {}
    state_values: dict[str, Any] = {}


class HomeRequest(PageRequest):
    pass


class SubmitRequest(PageRequest):
    view_id: str
    state_values: dict[str, Any] = {}


class CloseRequest(PageRequest):
    view_id: str
    whole_stack: bool = False


class OptionsRequest(PageRequest):
    block_id: str
    action_id: str
    value: str = ""
    channel: str | None = None
    message_ts: str | None = None
    view_id: str | None = None
    state_values: dict[str, Any] = {}


class PageError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


async def parse_page_request(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        parsed = model.model_validate(await request.json())
    except (ValidationError, json.JSONDecodeError) as error:
        raise PageError(400, f"bad_request: {error}") from error
    if parsed.user not in HUMAN_USER_IDS:
        raise PageError(400, "user_not_found")
    return parsed


# ---- payload pieces ---------------------------------------------------------------------------------
def user_ref(user_id: str) -> dict[str, str]:
    name = USERS[user_id]["name"]
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM["id"]}


def team_ref() -> dict[str, str]:
    return {"id": TEAM["id"], "domain": TEAM["domain"]}


def channel_name(channel_id: str) -> str:
    return PUBLIC_CHANNELS[channel_id]["name"] if channel_id in PUBLIC_CHANNELS else "directmessage"


def block_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    if block.get("type") == "actions":
        return [e for e in block.get("elements") or [] if isinstance(e, dict)]
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    if isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    return []


def find_element(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> dict[str, Any] | None:
    for block in blocks or []:
        if block.get("block_id") == block_id:
            for element in block_elements(block):
                if element.get("action_id") == action_id:
                    return element
    return None


def is_empty_value(value: dict[str, Any] | None) -> bool:
    if not value:
        return True
    filled = [v for k, v in value.items() if k != "type"]
    return not any(v not in (None, "", []) for v in filled)


def required_field_errors(view: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """Slack checks required inputs and length limits itself, before the app hears about the submission."""
    errors: dict[str, str] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        value = values.get(block["block_id"], {}).get(element.get("action_id"))
        if is_empty_value(value):
            if not block.get("optional"):
                errors[block["block_id"]] = REQUIRED_FIELD_ERROR
            continue
        text = (value or {}).get("value") or ""
        if element.get("type") == "plain_text_input" and len(text) < int(element.get("min_length", 0)):
            errors[block["block_id"]] = f"Must be at least {element['min_length']} characters"
    return errors


class Workspace:
    """Turns what a person does on the page into what Slack would send the bot, and applies the answers."""

    def __init__(self, state: SlackState, dispatcher: BotDispatcher, *, public_base_url: str) -> None:
        self.state = state
        self.dispatcher = dispatcher
        self.public_base_url = public_base_url.rstrip("/")

    def response_url(self, *, channel_id: str, user_id: str, message_ts: str | None) -> str:
        token = self.state.new_response_url_token(channel_id=channel_id, user_id=user_id, message_ts=message_ts)
        return f"{self.public_base_url}/response/{token}"

    def slackbot_says(self, channel_id: str, user_id: str, text: str) -> None:
        self.state.add_message(channel_id, user=SLACKBOT_USER_ID, text=text, ephemeral_to=user_id)

    def _channel_for(self, user_id: str, channel_id: str) -> str:
        if channel_id not in visible_channel_ids(user_id):
            raise PageError(404, "channel_not_found")
        return channel_id

    # ---- composer ------------------------------------------------------------------------------------
    async def compose(self, request: ComposerRequest) -> dict[str, Any]:
        channel_id = self._channel_for(request.user, request.channel)
        text = request.text.strip()
        if not text:
            return {"ok": True}
        if not text.startswith("/"):
            self.state.add_message(channel_id, user=request.user, text=text)
            return {"ok": True}
        command, _, arguments = text.partition(" ")
        if command not in SLASH_COMMANDS:
            self.slackbot_says(channel_id, request.user, f"`{command}` is not a valid command. In Slack, all "
                               "messages that start with the \"/\" character are interpreted as commands.")
            return {"ok": True}
        return await self.slash_command(channel_id, request.user, command, arguments.strip())

    async def slash_command(self, channel_id: str, user_id: str, command: str, text: str) -> dict[str, Any]:
        form = {
            "token": VERIFICATION_TOKEN, "team_id": TEAM["id"], "team_domain": TEAM["domain"],
            "channel_id": channel_id, "channel_name": channel_name(channel_id), "user_id": user_id,
            "user_name": USERS[user_id]["name"], "command": command, "text": text, "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.response_url(channel_id=channel_id, user_id=user_id, message_ts=None),
            "trigger_id": self.state.new_trigger(user_id),
        }
        answer = await self.dispatcher.send_command(form)
        if answer.error:
            self.slackbot_says(channel_id, user_id, f'{command} failed with the error "{answer.error}"')
            return {"ok": False, "error": answer.error}
        self._show_command_answer(channel_id, user_id, f"{command} {text}".strip(), answer)
        return {"ok": True}

    def _show_command_answer(self, channel_id: str, user_id: str, typed: str, answer: BotAnswer) -> None:
        if not answer.body.strip():
            return
        body = answer.json
        if body is None:
            self.state.add_message(channel_id, user=BOT_USER_ID, text=answer.body, ephemeral_to=user_id)
            return
        if body.get("response_type") == "in_channel":
            self.state.add_message(channel_id, user=user_id, text=typed)
            self.state.add_message(channel_id, user=BOT_USER_ID, text=body.get("text", ""), blocks=body.get("blocks"))
            return
        self.state.add_message(channel_id, user=BOT_USER_ID, text=body.get("text", ""), blocks=body.get("blocks"),
                               ephemeral_to=user_id)

    # ---- block actions -------------------------------------------------------------------------------
    def _message_context(self, user_id: str, channel: str | None, ts: str | None) -> tuple[str, dict[str, Any]]:
        channel_id = self._channel_for(user_id, channel or "")
        message = self.state.find_message(channel_id, ts or "")
        if message is None or message.get("ephemeral_to") not in (None, user_id):
            raise PageError(404, "message_not_found")
        return channel_id, message

    def _view_context(self, user_id: str, view_id: str | None) -> dict[str, Any]:
        home = self.state.home_views.get(user_id)
        if home is not None and home["id"] == view_id:
            return {"user": user_id, "view": home}  # the Home tab: a view, but not on the modal stack
        record = self.state.views.get(view_id or "")
        if record is None or record["user"] != user_id or view_id not in self.state.modal_stacks.get(user_id, []):
            raise PageError(404, "view_not_found")
        return record

    def _view_with_values(self, record: dict[str, Any], state_values: dict[str, Any]) -> dict[str, Any]:
        record["view"]["state"] = {"values": state_values}
        self.state.changed()
        return record["view"]

    def _message_surface(self, user_id: str, channel_id: str, message: dict[str, Any]) -> dict[str, Any]:
        ephemeral = bool(message.get("ephemeral_to"))
        surface: dict[str, Any] = {
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel_id,
                          "is_ephemeral": ephemeral},
            "channel": {"id": channel_id, "name": channel_name(channel_id)},
        }
        if not ephemeral:  # Slack leaves the message out of payloads for ephemeral messages
            surface["message"] = public_message(message)
        return surface

    async def block_action(self, request: ActionRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": "block_actions", "user": user_ref(request.user), "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN, "team": team_ref(), "enterprise": None, "is_enterprise_install": False,
            "trigger_id": self.state.new_trigger(request.user),
        }
        if request.view_id:
            record = self._view_context(request.user, request.view_id)
            blocks = record["view"]["blocks"]
            payload["container"] = {"type": "view", "view_id": request.view_id}
            payload["view"] = self._view_with_values(record, request.state_values)
        else:
            channel_id, message = self._message_context(request.user, request.channel, request.message_ts)
            blocks = message["blocks"]
            payload.update(self._message_surface(request.user, channel_id, message))
            payload["state"] = {"values": request.state_values}
            payload["response_url"] = self.response_url(channel_id=channel_id, user_id=request.user,
                                                        message_ts=message["ts"])
        element = find_element(blocks, request.block_id, request.action_id)
        if element is None:
            raise PageError(404, "element_not_found")
        payload["actions"] = [self._action(element, request)]
        answer = await self.dispatcher.send_payload(payload)
        return {"ok": answer.error is None, "error": answer.error}

    def _action(self, element: dict[str, Any], request: ActionRequest) -> dict[str, Any]:
        action: dict[str, Any] = {"type": element["type"], "action_id": request.action_id,
                                  "block_id": request.block_id}
        if element["type"] == "button":
            action["text"] = element.get("text")
            for key in ("value", "style", "url"):
                if key in element:
                    action[key] = element[key]
        else:
            action.update({k: v for k, v in request.selection.items() if k != "type"})
            if "placeholder" in element:
                action["placeholder"] = element["placeholder"]
        action["action_ts"] = f"{self.state.clock():.6f}"
        return action

    # ---- App Home --------------------------------------------------------------------------------------
    async def open_home(self, request: HomeRequest) -> dict[str, Any]:
        """The person opened the bot's Home tab: Slack tells the bot (app_home_opened), which publishes it."""
        home = self.state.home_views.get(request.user)
        event = {"type": "app_home_opened", "user": request.user, "channel": dm_channel_id(request.user),
                 "tab": "home", "event_ts": f"{self.state.clock():.6f}"}
        if home is not None:
            event["view"] = home
        answer = await self.dispatcher.send_event(event, team_id=TEAM["id"], api_app_id=API_APP_ID)
        return {"ok": answer.error is None, "error": answer.error}

    # ---- modals --------------------------------------------------------------------------------------
    async def submit(self, request: SubmitRequest) -> dict[str, Any]:
        record = self._view_context(request.user, request.view_id)
        if self.state.top_view(request.user) is not record:
            raise PageError(409, "not_top_view")
        view = self._view_with_values(record, request.state_values)
        errors = required_field_errors(view, request.state_values)
        if errors:
            self.state.set_view_feedback(record, errors=errors)
            return {"ok": False, "error": "invalid_input", "errors": errors}
        payload = {"type": "view_submission", "team": team_ref(), "user": user_ref(request.user),
                   "api_app_id": API_APP_ID, "token": VERIFICATION_TOKEN,
                   "trigger_id": self.state.new_trigger(request.user), "view": view, "response_urls": [],
                   "enterprise": None, "is_enterprise_install": False}
        answer = await self.dispatcher.send_payload(payload)
        if answer.error:
            self.state.set_view_feedback(record, notice=CONNECTION_TROUBLE)
            return {"ok": False, "error": answer.error}
        return self._apply_submission_answer(request.user, record, answer)

    def _apply_submission_answer(self, user_id: str, record: dict[str, Any], answer: BotAnswer) -> dict[str, Any]:
        body = answer.json or {}
        action = body.get("response_action")
        view_id = record["view"]["id"]
        if action == "errors":
            self.state.set_view_feedback(record, errors=body.get("errors") or {})
            return {"ok": True, "response_action": "errors"}
        if action == "update" and isinstance(body.get("view"), dict):
            self.state.replace_view(record, body["view"])
        elif action == "push" and isinstance(body.get("view"), dict):
            self.state.push_view(user_id, body["view"])
        elif action == "clear":
            self.state.close_views(user_id, view_id=view_id, whole_stack=True)
        elif self.state.views.get(view_id) is record:
            self.state.close_views(user_id, view_id=view_id, whole_stack=False)
        return {"ok": True, "response_action": action}

    async def close(self, request: CloseRequest) -> dict[str, Any]:
        record = self._view_context(request.user, request.view_id)
        whole_stack = request.whole_stack or record["view"].get("clear_on_close", False)
        closed = self.state.close_views(request.user, view_id=request.view_id, whole_stack=whole_stack)
        notify = [r for r in closed if r["view"].get("notify_on_close")]
        for closed_record in notify[:1]:  # Slack tells the app about the view the person was looking at
            await self.dispatcher.send_payload({
                "type": "view_closed", "team": team_ref(), "user": user_ref(request.user),
                "api_app_id": API_APP_ID, "token": VERIFICATION_TOKEN, "view": closed_record["view"],
                "is_cleared": whole_stack and len(closed) > 1, "enterprise": None, "is_enterprise_install": False,
            })
        return {"ok": True, "closed": [r["view"]["id"] for r in closed]}

    # ---- external select options ---------------------------------------------------------------------
    async def options(self, request: OptionsRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": "block_suggestion", "user": user_ref(request.user), "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN, "team": team_ref(), "enterprise": None, "is_enterprise_install": False,
            "action_id": request.action_id, "block_id": request.block_id, "value": request.value,
        }
        if request.view_id:
            record = self._view_context(request.user, request.view_id)
            payload["container"] = {"type": "view", "view_id": request.view_id}
            payload["view"] = self._view_with_values(record, request.state_values)
        else:
            channel_id, message = self._message_context(request.user, request.channel, request.message_ts)
            payload.update(self._message_surface(request.user, channel_id, message))
        answer = await self.dispatcher.send_payload(payload)
        body = answer.json or {}
        if answer.error or not ("options" in body or "option_groups" in body):
            return {"ok": False, "error": answer.error or "no_options", "options": []}
        return {"ok": True, **{k: body[k] for k in ("options", "option_groups") if k in body}}

    # ---- response_url ----------------------------------------------------------------------------------
    def respond(self, token: str, body: dict[str, Any]) -> tuple[int, str]:
        target = self.state.response_urls.get(token)
        if target is None:
            return 404, "invalid_token"
        if self.state.clock() - target["created"] > RESPONSE_URL_LIFETIME_SECONDS:
            return 404, "expired_url"
        if target["uses"] >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        target["uses"] += 1
        channel_id, user_id = target["channel"], target["user"]
        original = self.state.find_message(channel_id, target["message_ts"]) if target["message_ts"] else None
        if _truthy(body.get("delete_original")):
            if original is not None:
                self.state.delete_message(channel_id, original["ts"])
            return 200, "ok"
        if not body.get("text") and not body.get("blocks"):
            return 400, "no_text"
        if _truthy(body.get("replace_original")) and original is not None:
            self.state.update_message(original, text=body.get("text", ""), blocks=body.get("blocks") or [])
            return 200, "ok"
        ephemeral_to = None if body.get("response_type") == "in_channel" else user_id
        self.state.add_message(channel_id, user=BOT_USER_ID, text=body.get("text", ""), blocks=body.get("blocks"),
                               ephemeral_to=ephemeral_to, thread_ts=body.get("thread_ts"))
        return 200, "ok"

    # ---- what the page shows -----------------------------------------------------------------------------
    def snapshot(self, user_id: str) -> dict[str, Any]:
        channels = [{"id": cid, "name": PUBLIC_CHANNELS[cid]["name"], "is_im": False,
                     "purpose": PUBLIC_CHANNELS[cid]["purpose"]} for cid in PUBLIC_CHANNELS]
        channels += [{"id": cid, "name": USERS[BOT_USER_ID]["real_name"], "is_im": True, "purpose": ""}
                     for cid, uid in DM_CHANNELS.items() if uid == user_id]
        messages = {c["id"]: [{**public_message(m), "is_ephemeral": bool(m.get("ephemeral_to")),
                               "is_edited": bool(m.get("edited"))}
                              for m in self.state.messages(c["id"], viewer=user_id)] for c in channels}
        return {
            "version": self.state.version, "team": TEAM, "me": user_id, "bot_user_id": BOT_USER_ID,
            "users": {uid: {"id": uid, "name": u["name"], "real_name": u["real_name"], "color": u["color"],
                            "is_bot": bool(u.get("is_bot")), "is_admin": u["is_admin"]} for uid, u in USERS.items()},
            "human_user_ids": HUMAN_USER_IDS,
            "usergroups": {gid: {"id": gid, "handle": g["handle"], "name": g["name"]} for gid, g in USERGROUPS.items()},
            "channels": channels, "messages": messages, "home": self.state.home_views.get(user_id),
            "modals": [{"view": r["view"], "errors": r["errors"], "notice": r["notice"]}
                       for r in self.state.modal_stack(user_id)],
        }


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


# ---- aiohttp handlers -------------------------------------------------------------------------------
async def read_api_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return args


def bearer_token(request: web.Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    token = args.get("token")
    return str(token) if token else None


def make_api_handler(state: SlackState, api: WebApi, installs: Installs, hub: SocketHub | None = None) -> Callable:
    async def handle_api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await read_api_args(request)
        token = bearer_token(request, args)
        args.pop("token", None)  # never keep a token in the recorded calls
        if method == "apps.connections.open":  # the one method that takes the app-level token
            if hub is None:
                result = {"ok": False, "error": "not_allowed_token_type"}  # the app is not in Socket Mode
            elif token != hub.app_token:
                result = {"ok": False, "error": "not_authed" if token is None else "invalid_auth"}
            else:
                result = hub.open_connection()
        elif method == "oauth.v2.access":  # the app's client id and secret, not a token
            result = installs.oauth_v2_access(args, request)
            args = {k: v for k, v in args.items() if k not in ("client_secret", "code", "refresh_token")}
        elif token is None:
            result = {"ok": False, "error": "not_authed"}
        elif installs.team_of(token) is None:
            result = {"ok": False, "error": "invalid_auth"}
        else:
            result = api.call(method, args)
        state.record_api_call(method, args, result, team=installs.team_of(token))
        return web.json_response(result)
    return handle_api


def page_handler(action: Callable[[Workspace, Any], Any], model: type[BaseModel]) -> Callable:
    async def handle(request: web.Request) -> web.Response:
        try:
            parsed = await parse_page_request(request, model)
            result = await action(request.app[WORKSPACE], parsed)
        except PageError as error:
            return web.json_response({"ok": False, "error": error.error}, status=error.status)
        return web.json_response(result)
    return handle


def _page_user(request: web.Request) -> str:
    user_id = request.query.get("user", HUMAN_USER_IDS[0])
    if user_id not in HUMAN_USER_IDS:
        raise web.HTTPBadRequest(text="unknown user")
    return user_id


async def handle_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORKSPACE].snapshot(_page_user(request)))


async def handle_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one `changed` event per state version; the page then refetches its snapshot."""
    _page_user(request)
    state = request.app[SLACK_STATE]
    closing = request.app[CLOSING]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    sent_version = -1
    try:
        while not closing.is_set():
            if state.version != sent_version:
                sent_version = state.version
                await response.write(f"event: changed\ndata: {sent_version}\n\n".encode())
            else:
                await response.write(b": ping\n\n")
            await state.wait_for_change(sent_version, SSE_PING_SECONDS)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def handle_response_url(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        form = await request.post()
        body = json.loads(str(form.get("payload", "{}")))
    status, text = request.app[WORKSPACE].respond(request.match_info["token"], body if isinstance(body, dict) else {})
    return web.Response(status=status, text=text)


def upload_handlers(api: WebApi) -> tuple[Callable, Callable]:
    """The upload URL files.getUploadURLExternal hands out, and where the page downloads a shared file."""
    async def receive(request: web.Request) -> web.Response:
        status, text = api.receive_upload(request.match_info["file_id"], await request.read())
        return web.Response(status=status, text=text)

    async def download(request: web.Request) -> web.Response:
        record = api.file_content(request.match_info["file_id"])
        if record is None:
            return web.Response(status=404, text="file not found")
        return web.Response(text=record["content"], content_type="text/csv" if record["name"].endswith(".csv")
                            else "text/plain", headers={"Content-Disposition": f'inline; filename="{record["name"]}"'})

    return receive, download


async def handle_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "workspace.html", headers={"Cache-Control": "no-cache"})


WORKSPACE: web.AppKey[Workspace] = web.AppKey("slack_workspace", Workspace)
CLOSING: web.AppKey[asyncio.Event] = web.AppKey("slack_closing", asyncio.Event)


def create_slack_app(data_dir: Path | None, *, bot_events_url: str, signing_secret: str, bot_token: str,
                     public_base_url: str, clock: Callable[[], float] | None = None,
                     ack_timeout: float = ACK_TIMEOUT_SECONDS, app_token: str | None = None) -> web.Application:
    """The Slack stand-in as an aiohttp sub-app (mount it at `/slack`).

    `clock` (default time.time) drives trigger_id/response_url expiry and message ts; tests inject a fake one.
    With `app_token` the app is in Socket Mode: requests go over the bot's socket (sandbox/slack/socket_mode.py).
    """
    state = SlackState(data_dir, **({"clock": clock} if clock else {}))
    hub = None
    if app_token:
        ws_base = "ws" + public_base_url.removeprefix("http")  # http://… -> ws://…, https://… -> wss://…
        hub = SocketHub(app_token, app_id=API_APP_ID, public_ws_base=ws_base)
    dispatcher = BotDispatcher(state, bot_events_url=bot_events_url, signing_secret=signing_secret,
                               ack_timeout=ack_timeout, hub=hub)
    app = web.Application()
    app[SLACK_STATE] = state
    app[SLACK_DISPATCHER] = dispatcher
    app[WORKSPACE] = Workspace(state, dispatcher, public_base_url=public_base_url)
    app[CLOSING] = asyncio.Event()
    api = WebApi(state, base_url=public_base_url.rstrip("/"))
    installs = app[SLACK_INSTALLS] = Installs(bot_token)

    async def on_shutdown(_: web.Application) -> None:
        app[CLOSING].set()
        state.wake()

    async def on_cleanup(_: web.Application) -> None:
        await dispatcher.close()
        if hub is not None:
            await hub.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/", handle_page)
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_route("*", "/api/{method}", make_api_handler(state, api, installs, hub))
    app.router.add_routes(consent_routes(installs))
    if hub is not None:
        app.router.add_get("/socket", hub.handle_socket)
    app.router.add_post("/response/{token}", handle_response_url)
    receive_upload, download_file = upload_handlers(api)
    app.router.add_post("/upload/{file_id}", receive_upload)
    app.router.add_get("/files/{file_id}", download_file)
    app.router.add_get("/ui/state", handle_state)
    app.router.add_get("/ui/stream", handle_stream)
    app.router.add_post("/ui/message", page_handler(Workspace.compose, ComposerRequest))
    app.router.add_post("/ui/action", page_handler(Workspace.block_action, ActionRequest))
    app.router.add_post("/ui/submit", page_handler(Workspace.submit, SubmitRequest))
    app.router.add_post("/ui/home", page_handler(Workspace.open_home, HomeRequest))
    app.router.add_post("/ui/close", page_handler(Workspace.close, CloseRequest))
    app.router.add_post("/ui/options", page_handler(Workspace.options, OptionsRequest))
    return app
