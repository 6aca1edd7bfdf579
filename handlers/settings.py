"""/xero settings: the modal, its inline validation and saving."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.blocks import settings as blocks
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.slack_directory import slack_error
from bot.slack_request import State, ViewSubmission
from handlers.connections import notify_user
from handlers.router import CommandContext, CommandRouter
from services.logfmt import fields
from services.workspace_settings import SettingsChanges

log = logging.getLogger(__name__)


async def open_settings(ctx: CommandContext) -> None:
    current = await ctx.container.workspace_settings.get(ctx.team_id)
    usergroups = await _usergroups(ctx.container)
    await ctx.container.slack.views_open(
        trigger_id=ctx.trigger_id,
        view=blocks.settings_modal(current, usergroups=usergroups, channel_id=ctx.channel_id),
    )


async def _usergroups(container: Container) -> list[tuple[str, str]] | None:
    try:
        response = await container.slack.usergroups_list()
    except SlackApiError as exc:  # e.g. missing_scope, or a free workspace without user groups
        log.info("slack.usergroups_unavailable error=%s", slack_error(exc))
        return None
    groups = response.get("usergroups") or []
    return [(g["id"], g.get("name") or g.get("handle") or g["id"]) for g in groups if not g.get("date_delete")]


def read_form(state: State) -> dict:
    """The submitted modal as plain values (None where a field is empty)."""
    def element(block_id: str):
        return state.element(block_id, block_id)

    def text(block_id: str) -> str | None:
        return (element(block_id).value or "").strip() or None

    def chosen(block_id: str) -> str | None:
        option = element(block_id).selected_option
        return option.value if option else None

    group = chosen(blocks.APPROVER_USERGROUP)
    return {
        "approval_channel": element(blocks.APPROVAL_CHANNEL).selected_conversation,
        "notify_channel": element(blocks.NOTIFY_CHANNEL).selected_conversation,
        "approver_users": list(element(blocks.APPROVER_USERS).selected_users),
        "approver_usergroup": None if group in (None, blocks.NO_USERGROUP) else group,
        "usergroup_shown": blocks.APPROVER_USERGROUP in state.values,
        "export_status": chosen(blocks.EXPORT_STATUS) or "DRAFT",
        "account_code": text(blocks.ACCOUNT_CODE),
        "tax_type": (text(blocks.TAX_TYPE) or "").upper() or None,
        "forecast_api_key": text(blocks.FORECAST_API_KEY),
    }


async def validate(container: Container, team_id: str, form: dict) -> dict[str, str]:
    errors: dict[str, str] = {}
    for block_id in (blocks.APPROVAL_CHANNEL, blocks.NOTIFY_CHANNEL):
        channel = form[block_id]
        problem = await _channel_problem(container, channel) if channel else None
        if problem:
            errors[block_id] = problem
    if form["export_status"] not in blocks.STATUS_LABELS:
        errors[blocks.EXPORT_STATUS] = "Choose Draft or Approved."
    if not form["forecast_api_key"] and not (await container.workspace_settings.get(team_id)).has_forecast_key:
        errors[blocks.FORECAST_API_KEY] = "Paste a Forecast API key (Forecast > Admin > API keys): none is stored yet."
    return errors


async def _channel_problem(container: Container, channel: str) -> str | None:
    """Why the bot could not post in `channel`, in words for the modal; None when it can (or cannot tell)."""
    try:
        response = await container.slack.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = slack_error(exc)
        if error in ("channel_not_found", "invalid_channel"):
            return "I can't find that channel. Pick another one, or invite me to it first."
        log.warning("slack.conversations_info_failed error=%s", error)  # cannot check: let Slack decide later
        return None
    info = response.get("channel") or {}
    if info.get("is_archived"):
        return "That channel is archived. Pick another one."
    if info.get("is_member") is False:  # without chat:write.public the bot may only post where it is a member
        return "I'm not in that channel yet. Type `/invite @Xero` in it, then save again."
    return None


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("settings", open_settings, usage="/xero settings", admin_only=True, example="/xero settings",
               summary="Choose the approval and notification channels, approvers, invoice status, default "
                       "account and tax type, and the Forecast API key.")

    @app.view(blocks.SETTINGS_CALLBACK_ID)
    async def save_settings(ack, context):
        submission = ViewSubmission.of(context)
        user_id, team_id, channel_id = submission.user_id, submission.team_id, submission.metadata.channel_id
        if not await container.permissions.is_admin(user_id):
            await ack()
            await notify_user(container, user_id, channel_id, not_admin("/xero settings"))
            return
        form = read_form(submission.view.state)
        errors = await validate(container, team_id, form)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        values = {k: v for k, v in form.items() if k != "usergroup_shown"}
        if not form["usergroup_shown"]:
            values.pop("approver_usergroup")  # the field was not offered: keep what is stored
        if not values["forecast_api_key"]:
            values.pop("forecast_api_key")  # empty keeps the stored key
        saved = await container.workspace_settings.update(team_id, SettingsChanges(**values), updated_by=user_id)
        log.info("settings.saved", **fields(team=team_id, user=user_id))
        await notify_user(container, user_id, channel_id,
                          blocks.settings_saved(saved, key_changed=bool(form["forecast_api_key"])))
