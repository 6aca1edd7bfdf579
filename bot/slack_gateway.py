"""The one way out to Slack's Web API: posting, updating, DMs, notices to a person, modals, people and channels.

Every call is made for one workspace: `SlackGateway.for_team(team_id)` gives that workspace's gateway, whose
client carries the workspace's bot token (looked up through the injected `token_for`, one client kept per
token). Bolt's own client (bolt calls auth.test with it) is built here too, and nothing else calls Slack.

slack_sdk's AsyncWebClient with its async retry handlers (rate limited: waits Retry-After; server errors;
connection errors), so a blip is retried inside one call. Every Slack error is logged here, once, with its
code. A call Slack refused for good raises `SlackRefused` (the caller decides what then); anything else
raises `SlackUnavailable`, which outbox jobs let through so the job runner tries again later.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from services.platform.logfmt import fields

log = logging.getLogger(__name__)

# Codes after which trying the same call again cannot work.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "message_not_found", "cant_update_message",
    "user_not_found", "user_not_in_channel", "cannot_dm_bot", "invalid_blocks", "msg_too_long",
    "no_text", "invalid_auth", "account_inactive", "token_revoked", "missing_scope", "not_authed",
    "restricted_action", "expired_trigger_id", "invalid_trigger_id", "not_found", "view_too_large",
    "thread_not_found", "user_disabled",
})


def retry_handlers() -> list:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2)]


def build_client(token: str | None, base_url: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=retry_handlers())


def error_code(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`, …), whatever shape the response had."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) else f"HTTP {getattr(exc.response, 'status_code', '?')}"


class SlackCallFailed(Exception):
    def __init__(self, method: str, error: str):
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


class SlackRefused(SlackCallFailed):
    """Slack answered, and the same call cannot succeed later (no such channel, not a member, …)."""


class SlackUnavailable(SlackCallFailed):
    """Slack could not be reached or failed after the client's own retries: try again later."""


CLOCK_MARGIN_SECONDS = 60.0  # Slack's clock and ours may differ; the tag, not the time, picks the message


@dataclass(frozen=True)
class MessageTag:
    """Slack message metadata naming what a message is (`event_type`) and about what (`payload`)."""

    event_type: str
    payload: dict[str, str]

    def metadata(self) -> dict:
        return {"metadata": {"event_type": self.event_type, "event_payload": dict(self.payload)}}

    def names(self, metadata: dict) -> bool:
        said = metadata.get("event_payload") or {}
        return metadata.get("event_type") == self.event_type and all(
            str(said.get(key)) == value for key, value in self.payload.items())


TokenLookup = Callable[[str, str | None], Awaitable[str | None]]
"""(team_id, enterprise_id) -> that workspace's bot token, None when the app is not installed there."""


def same_token_for_every_team(token: str | None) -> TokenLookup:
    """One workspace's app (SLACK_BOT_TOKEN): the same token whichever team asks."""
    async def token_for(team_id: str, enterprise_id: str | None) -> str | None:
        return token

    return token_for


class SlackGateway:
    """Slack for the whole app: `for_team` gives the calls made for one workspace."""

    def __init__(self, base_url: str, token_for: TokenLookup, *, bolt_token: str | None = None):
        self.base_url = base_url
        self.token_for = token_for
        self._clients: dict[str, AsyncWebClient] = {}
        # Bolt's own client: bolt checks its token with auth.test and hands listeners a copy, which they never use.
        self.bolt_client = build_client(bolt_token, base_url)

    def for_team(self, team_id: str, enterprise_id: str | None = None) -> WorkspaceGateway:
        return WorkspaceGateway(self, team_id, enterprise_id)

    async def client_for(self, team_id: str, enterprise_id: str | None) -> AsyncWebClient | None:
        token = await self.token_for(team_id, enterprise_id)
        if not token:
            return None
        client = self._clients.get(token)
        if client is None:
            client = self._clients[token] = build_client(token, self.base_url)
        return client


@dataclass(frozen=True)
class SlackUser:
    """What users.info says about a person that the bot decides on."""

    is_admin: bool
    is_bot: bool
    deleted: bool


@dataclass(frozen=True)
class SlackChannel:
    found: bool
    is_archived: bool
    is_member: bool | None  # None: Slack did not say


class UserGroup(NamedTuple):
    id: str
    name: str


@dataclass(frozen=True)
class WorkspaceGateway:
    """The gateway's calls for one workspace (`SlackGateway.for_team`)."""

    slack: SlackGateway
    team_id: str
    enterprise_id: str | None = None

    async def _call(self, method: str, *, read: bool = False, **args) -> dict:
        """Write methods take a JSON body; read methods (Slack refuses JSON for them) take parameters."""
        try:
            client = await self.slack.client_for(self.team_id, self.enterprise_id)
        except Exception as exc:  # e.g. the installation store unreachable: later may work
            log.warning("slack.token_unavailable", **fields(method=method, team=self.team_id,
                                                            error=type(exc).__name__))
            raise SlackUnavailable(method, "token_unavailable") from None
        if client is None:  # not installed in this workspace (any more): nothing to try again
            log.warning("slack.no_token", **fields(method=method, team=self.team_id))
            raise SlackRefused(method, "not_authed")
        try:
            if read:
                response = await client.api_call(method, http_verb="GET", params=args)
            else:
                response = await client.api_call(method, json=args)
        except SlackApiError as exc:
            code = error_code(exc)
            log.warning("slack.call_failed", **fields(method=method, team=self.team_id, error=code))
            if code in PERMANENT_ERRORS or code.startswith("invalid_"):
                raise SlackRefused(method, code) from None
            raise SlackUnavailable(method, code) from None
        except Exception as exc:  # connection errors the retry handlers could not mend
            log.warning("slack.unreachable", **fields(method=method, team=self.team_id, error=type(exc).__name__))
            raise SlackUnavailable(method, type(exc).__name__) from None
        data = response.data
        return data if isinstance(data, dict) else {}

    # Messages ------------------------------------------------------------------------
    async def post(self, channel: str, payload: dict) -> tuple[str, str]:
        """Posts in a channel (a user id posts in the DM with that user); returns (channel, ts)."""
        answer = await self._call("chat.postMessage", channel=channel, **payload)
        return answer["channel"], answer["ts"]

    async def post_once(self, channel: str, payload: dict, tag: MessageTag, *, tried_since: datetime | None,
                        before_post: Callable[[], Awaitable[None]]) -> tuple[str, str]:
        """Posts a message at most once although Slack has no idempotency key. The caller saves "posting
        since" in `before_post` (awaited right before the post) and passes the saved time back as
        `tried_since`: when an earlier run got that far, the message it may have posted (tagged with `tag`
        in its metadata) is looked for first, and returned instead of posting a second one."""
        if tried_since is not None:
            try:
                found = await self.find_tagged(channel, tag, since=tried_since.timestamp() - CLOCK_MARGIN_SECONDS,
                                               thread_ts=payload.get("thread_ts"))
            except SlackRefused:  # e.g. an install without the history scopes: post again rather than never
                found = None
            if found is not None:
                return found
        await before_post()
        return await self.post(channel, {**payload, **tag.metadata()})

    async def find_tagged(self, channel: str, tag: MessageTag, *, since: float,
                          thread_ts: str | None = None) -> tuple[str, str] | None:
        """(channel, ts) of the bot's message in `channel` (a user id: the DM with them; `thread_ts`: that
        thread's replies) since `since` whose metadata is `tag`: finds a message Slack accepted although the
        bot died before it saved the ts. None when there is none."""
        if channel[:1] in ("U", "W"):
            channel = await self.dm_channel(channel)
        args = {"channel": channel, "oldest": f"{since:.6f}", "include_all_metadata": "true", "limit": 200}
        if thread_ts:
            answer = await self._call("conversations.replies", read=True, ts=thread_ts, **args)
        else:
            answer = await self._call("conversations.history", read=True, **args)
        for message in answer.get("messages") or []:
            if tag.names(message.get("metadata") or {}) and message.get("ts"):
                return channel, str(message["ts"])
        return None

    async def dm_channel(self, user_id: str) -> str:
        """The id of the bot's DM with a person (conversations.open, which only opens it once)."""
        return str((await self._call("conversations.open", users=user_id))["channel"]["id"])

    async def update(self, channel: str, ts: str, payload: dict) -> None:
        await self._call("chat.update", channel=channel, ts=ts, **payload)

    async def dm(self, user_id: str, payload: dict) -> tuple[str, str]:
        return await self.post(user_id, payload)

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return (await self._call("chat.getPermalink", read=True, channel=channel, message_ts=ts)).get("permalink")
        except SlackCallFailed:
            return None

    async def notify_user(self, user_id: str, channel_id: str | None, payload: dict) -> None:
        """Where they are (only they see it), else in a DM. Never raises: the reason was already logged."""
        if channel_id:
            try:
                await self._call("chat.postEphemeral", channel=channel_id, user=user_id, **payload)
                return
            except SlackCallFailed:
                pass
        try:
            await self.dm(user_id, payload)
        except SlackCallFailed:
            pass

    # People and files ----------------------------------------------------------------
    async def time_zone(self, user_id: str) -> str | None:
        """The person's time zone as Slack has it (users.info `tz`, e.g. Europe/London); None if unknown."""
        try:
            person = (await self._call("users.info", read=True, user=user_id)).get("user") or {}
        except SlackCallFailed:
            return None
        return person.get("tz") or None

    async def _people(self) -> AsyncIterator[dict[str, Any]]:
        """Everyone in the workspace, page by page (at most 20 pages of 200); stops quietly where Slack fails."""
        cursor = None
        for _ in range(20):
            args: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            try:
                answer = await self._call("users.list", read=True, **args)
            except SlackCallFailed:
                return
            for person in answer.get("members") or []:
                yield person
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    async def find_user(self, handle: str) -> str | None:
        """The id of the person whose name, display name or real name is `handle` (without the @)."""
        wanted = handle.lstrip("@").casefold()
        async for person in self._people():
            profile = person.get("profile") or {}
            names = {person.get("name"), profile.get("display_name"), profile.get("real_name"),
                     person.get("real_name")}
            if wanted in {(n or "").casefold() for n in names if n}:
                return str(person["id"])
        return None

    async def admin_ids(self) -> list[str]:
        """The ids of the workspace's admins and owners (people, not bots or deactivated accounts); [] if Slack
        cannot tell."""
        found: list[str] = []
        async for person in self._people():
            if person.get("deleted") or person.get("is_bot") or person.get("id") == "USLACKBOT":
                continue
            if person.get("is_admin") or person.get("is_owner") or person.get("is_primary_owner"):
                found.append(str(person["id"]))
        return found

    async def upload_to_dm(self, user_id: str, *, filename: str, content: str, title: str, comment: str) -> None:
        """A file in the bot's DM with the person (files.uploadV2: getUploadURLExternal, the upload,
        completeUploadExternal). Raises SlackRefused / SlackUnavailable like every call here."""
        channel = await self.dm_channel(user_id)
        client = await self.slack.client_for(self.team_id, self.enterprise_id)
        if client is None:
            raise SlackRefused("files.uploadV2", "not_authed")
        try:
            await client.files_upload_v2(channel=channel, filename=filename, content=content.encode("utf-8"),
                                              title=title, initial_comment=comment)
        except SlackApiError as exc:
            code = error_code(exc)
            log.warning("slack.call_failed", **fields(method="files.uploadV2", error=code))
            if code in PERMANENT_ERRORS or code.startswith("invalid_"):
                raise SlackRefused("files.uploadV2", code) from None
            raise SlackUnavailable("files.uploadV2", code) from None
        except Exception as exc:  # the upload step itself (slack_sdk raises SlackRequestError), or the network
            log.warning("slack.unreachable", **fields(method="files.uploadV2", error=type(exc).__name__))
            raise SlackUnavailable("files.uploadV2", type(exc).__name__) from None

    # Modals --------------------------------------------------------------------------
    async def open_modal(self, trigger_id: str, view: dict) -> dict | None:
        try:
            return (await self._call("views.open", trigger_id=trigger_id, view=view)).get("view")
        except SlackCallFailed:
            return None

    async def update_modal(self, view_id: str, view: dict, *, hash: str | None = None) -> dict | None:
        """Redraws an open modal. A `hash_conflict` (the person changed it meanwhile) is not an error:
        their newer state wins and the next redraw uses it."""
        args: dict[str, Any] = {"view_id": view_id, "view": view, **({"hash": hash} if hash else {})}
        try:
            return (await self._call("views.update", **args)).get("view")
        except SlackCallFailed as exc:
            if exc.error == "hash_conflict":
                log.info("slack.modal_changed_meanwhile", **fields(view=view_id))
            return None

    async def publish_home(self, user_id: str, view: dict) -> None:
        """Draws this person's App Home tab. Raises SlackCallFailed (already logged)."""
        await self._call("views.publish", user_id=user_id, view=view)

    # People and channels ---------------------------------------------------------------
    async def user(self, user_id: str) -> SlackUser | None:
        """What Slack says about a person; None when it cannot tell (the reason was logged)."""
        try:
            person = (await self._call("users.info", read=True, user=user_id)).get("user") or {}
        except SlackCallFailed:
            return None
        return SlackUser(is_admin=bool(person.get("is_admin") or person.get("is_owner")
                                       or person.get("is_primary_owner")),
                         is_bot=bool(person.get("is_bot")) or user_id == "USLACKBOT",
                         deleted=bool(person.get("deleted")))

    async def usergroups(self) -> list[UserGroup] | None:
        """The workspace's user groups (deleted ones left out); None when Slack offers none (missing scope, a
        free workspace)."""
        try:
            # team_id: an Enterprise Grid org-wide token must be told which workspace's groups
            groups = (await self._call("usergroups.list", read=True, team_id=self.team_id)).get("usergroups") or []
        except SlackCallFailed:
            return None
        return [UserGroup(g["id"], g.get("name") or g.get("handle") or g["id"])
                for g in groups if not g.get("date_delete")]

    async def usergroup_members(self, usergroup_id: str) -> set[str]:
        """The members of a user group; none when Slack cannot tell (the reason was logged)."""
        try:
            answer = await self._call("usergroups.users.list", read=True, usergroup=usergroup_id)
        except SlackCallFailed:
            return set()
        return set(answer.get("users") or [])

    async def channel(self, channel_id: str) -> SlackChannel | None:
        """What the bot may do in a channel; SlackChannel(found=False) when there is no such channel for it,
        None when Slack cannot tell."""
        try:
            info = (await self._call("conversations.info", read=True, channel=channel_id)).get("channel") or {}
        except SlackCallFailed as exc:
            if exc.error in ("channel_not_found", "invalid_channel"):
                return SlackChannel(found=False, is_archived=False, is_member=None)
            return None
        return SlackChannel(found=True, is_archived=bool(info.get("is_archived")), is_member=info.get("is_member"))
