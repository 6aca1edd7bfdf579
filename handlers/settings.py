"""/xero settings: the modal, its inline validation and saving."""

from __future__ import annotations

import asyncio
import logging
import re
from decimal import Decimal

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.blocks import settings as blocks
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.requests.reader import State, ViewSubmission
from bot.slack_directory import slack_error
from handlers.connections import notify_user
from handlers.router import CommandContext, CommandRouter
from services.forecast import ForecastAuthError, ForecastError
from services.platform.logfmt import fields
from services.shared.settings import ApprovalRule, OrganisationDefaults, SettingsChanges, TrackingChoice

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # seconds for a check with Xero or Forecast while Slack waits for the form's answer


async def open_settings(ctx: CommandContext) -> None:
    """Opens the form at once (the trigger expires in 3 s), then fills in each organisation's lists from Xero."""
    container = ctx.container
    current = await container.workspace_settings.get(ctx.team_id)
    usergroups = await _usergroups(container)
    opened = await container.slack.views_open(
        trigger_id=ctx.trigger_id,
        view=blocks.settings_modal(current, usergroups=usergroups, channel_id=ctx.channel_id),
    )
    organisations = await container.ledger_choices.for_team(ctx.team_id)
    try:
        await container.slack.views_update(view_id=opened["view"]["id"], view=blocks.settings_modal(
            current, usergroups=usergroups, channel_id=ctx.channel_id, organisations=organisations))
    except SlackApiError as exc:  # e.g. the admin already closed the form
        log.info("settings.fill_failed error=%s", slack_error(exc))


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

    def rule_value(kind: str, block_id: str):
        if kind in (blocks.RULE_AMOUNT, blocks.RULE_CLIENT):
            return text(block_id)
        if kind == blocks.RULE_ORGANISATION:
            return chosen(block_id)
        if kind == blocks.RULE_APPROVERS:
            return list(element(block_id).selected_users)
        return bool(element(block_id).selected_options)

    per_organisation: dict[str, dict[str, str | None]] = {}
    rule_slots: dict[int, dict] = {}
    for block_id in state.values:
        kind_and_tenant = blocks.split_organisation_block(block_id)
        if kind_and_tenant:
            kind, tenant_id = kind_and_tenant
            per_organisation.setdefault(tenant_id, {})[kind] = chosen(block_id)
        kind_and_slot = blocks.split_rule_block(block_id)
        if kind_and_slot:
            kind, slot = kind_and_slot
            rule_slots.setdefault(slot, {})[kind] = rule_value(kind, block_id)

    group = chosen(blocks.APPROVER_USERGROUP)
    return {
        "approval_channel": element(blocks.APPROVAL_CHANNEL).selected_conversation,
        "notify_channel": element(blocks.NOTIFY_CHANNEL).selected_conversation,
        "approver_users": list(element(blocks.APPROVER_USERS).selected_users),
        "approver_usergroup": None if group in (None, blocks.NO_USERGROUP) else group,
        "usergroup_shown": blocks.APPROVER_USERGROUP in state.values,
        "export_status": chosen(blocks.EXPORT_STATUS) or "DRAFT",
        "organisations": per_organisation,
        "rules": rule_slots if rule_slots else None,  # None: the form did not show them (keep what is stored)
        "forecast_api_key": text(blocks.FORECAST_API_KEY),
        "use_default_forecast_key": bool(element(blocks.FORECAST_KEY_DEFAULT).selected_options),
    }


async def validate(container: Container, team_id: str, form: dict) -> dict[str, str]:
    """Every check at once (Slack waits 3 s for the answer); block id -> what is wrong, in words."""
    async def channel(block_id: str) -> dict[str, str]:
        problem = await _channel_problem(container, form[block_id]) if form[block_id] else None
        return {block_id: problem} if problem else {}

    async def approvers() -> dict[str, str]:
        problem = await _approvers_problem(container, form["approver_users"])
        return {blocks.APPROVER_USERS: problem} if problem else {}

    async def key() -> dict[str, str]:
        problem = await _key_problem(container, team_id, form)
        return {blocks.FORECAST_API_KEY: problem} if problem else {}

    errors: dict[str, str] = {}
    if form["rules"] is not None:
        errors.update(rules_from_form(form["rules"], {})[1])
    if not form["approval_channel"]:
        errors[blocks.APPROVAL_CHANNEL] = "Choose a channel: export requests wait for approval there."
    if form["export_status"] not in blocks.STATUS_LABELS:
        errors[blocks.EXPORT_STATUS] = "Choose Draft or Approved."
    for found in await asyncio.gather(channel(blocks.APPROVAL_CHANNEL), channel(blocks.NOTIFY_CHANNEL), approvers(),
                                      _organisation_problems(container, team_id, form["organisations"]), key()):
        errors.update(found)
    return errors


AMOUNT = re.compile(r"^\s*([A-Za-z]{3})\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s*$|"
                    r"^\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s*([A-Za-z]{3})\s*$")


def rules_from_form(slots: dict[int, dict], tenant_names: dict[str, str]) -> tuple[list[ApprovalRule], dict[str, str]]:
    """The rules the form's groups describe (an empty group is none), and what is wrong, per block id."""
    found: list[ApprovalRule] = []
    errors: dict[str, str] = {}
    for slot in sorted(slots):
        given = slots[slot]
        amount, client = given.get(blocks.RULE_AMOUNT), given.get(blocks.RULE_CLIENT)
        organisation = given.get(blocks.RULE_ORGANISATION)
        organisation = None if organisation in (None, blocks.ANY_ORGANISATION) else organisation
        approvers, two = given.get(blocks.RULE_APPROVERS) or [], bool(given.get(blocks.RULE_TWO))
        if not any((amount, client, organisation, approvers, two)):
            continue
        currency = above = None
        if amount:
            match = AMOUNT.match(amount)
            if match is None:
                errors[blocks.rule_block(blocks.RULE_AMOUNT, slot)] = (
                    "Write a currency and an amount, e.g. GBP 5000 (or leave it empty).")
                continue
            currency = (match.group(1) or match.group(4)).upper()
            above = Decimal((match.group(2) or match.group(3)).replace(",", ""))
        if not approvers and not two:
            errors[blocks.rule_block(blocks.RULE_APPROVERS, slot)] = (
                "Choose who must approve, or tick two approvers (or empty the whole rule to remove it).")
            continue
        found.append(ApprovalRule(currency=currency, above=above, client_name=client, tenant_id=organisation,
                                  tenant_name=tenant_names.get(organisation or ""), approvers=approvers,
                                  two_approvers=two))
    return found, errors


async def _approvers_problem(container: Container, user_ids: list[str]) -> str | None:
    """Bots (this one included) and deactivated accounts cannot click Approve."""
    for user_id in user_ids:
        try:
            person = (await container.slack.users_info(user=user_id)).get("user") or {}
        except SlackApiError as exc:
            log.warning("slack.users_info_failed error=%s", slack_error(exc))
            continue  # cannot tell: let it be
        if person.get("is_bot") or user_id == "USLACKBOT":
            return f"<@{user_id}> is a bot and cannot approve exports. Choose people."
        if person.get("deleted"):
            return f"<@{user_id}> is deactivated. Choose people who can approve."
    return None


async def _organisation_problems(container: Container, team_id: str, picked: dict[str, dict]) -> dict[str, str]:
    """Each picked account and tax rate must be one the organisation offered (active, for revenue)."""
    errors: dict[str, str] = {}
    for tenant_id, kinds in picked.items():
        choices = await container.ledger_choices.last_read(team_id, tenant_id)
        if choices is None:  # the form was opened by another bot process: ask Xero, briefly
            choices = await _read_choices(container, team_id, tenant_id)
        account, tax = kinds.get(blocks.ACCOUNT_CODE), kinds.get(blocks.TAX_TYPE)
        if account and account != blocks.USE_DEFAULT and (choices is None or choices.account(account) is None):
            errors[blocks.organisation_block(blocks.ACCOUNT_CODE, tenant_id)] = (
                "That is not an active revenue account of this organisation. Choose one from the list.")
        if tax and tax != blocks.USE_DEFAULT and (choices is None or choices.tax_rate(tax) is None):
            errors[blocks.organisation_block(blocks.TAX_TYPE, tenant_id)] = (
                "That is not an active tax rate for sales in this organisation. Choose one from the list.")
        try:
            blocks.read_tracking(kinds.get(blocks.TRACKING), choices)
        except ValueError:
            errors[blocks.organisation_block(blocks.TRACKING, tenant_id)] = (
                "That tracking category or option is no longer active in this organisation. Choose one from the list.")
    return errors


async def _read_choices(container: Container, team_id: str, tenant_id: str):
    try:
        await asyncio.wait_for(container.ledger_choices.for_team(team_id), timeout=CHECK_TIMEOUT)
    except TimeoutError:
        log.info("settings.choices_check_timed_out team=%s", team_id)
    return await container.ledger_choices.last_read(team_id, tenant_id)


async def _key_problem(container: Container, team_id: str, form: dict) -> str | None:
    key = form["forecast_api_key"]
    if key and form["use_default_forecast_key"]:
        return "Paste a new key or use the default key, not both."
    if form["use_default_forecast_key"]:
        return None
    if not key:
        if (await container.workspace_settings.get(team_id)).has_forecast_key:
            return None
        return "Paste a Forecast API key (Forecast > Admin > API keys): none is stored yet."
    try:
        await container.forecast.check_key(key, timeout=CHECK_TIMEOUT)
    except ForecastAuthError:
        return "Forecast refused this key. Copy it again from Forecast > Admin > API keys; nothing was saved."
    except ForecastError as exc:
        return blocks.key_check_failed(exc)
    return None


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
        return "I'm not in that channel yet. Type `/invite @Ledgerline` in it, then save again."
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
        before = await container.workspace_settings.get(team_id)  # read before Slack is answered: saved right after
        await ack()
        values = {k: v for k, v in form.items() if k not in ("usergroup_shown", "organisations", "rules")}
        if form["rules"] is not None:
            names = {t.tenant_id: t.name for t in await container.connections.list_tenants(team_id)}
            values["approval_rules"] = rules_from_form(form["rules"], names)[0]
        if not form["usergroup_shown"]:
            values.pop("approver_usergroup")  # the field was not offered: keep what is stored
        if not values["forecast_api_key"]:
            values.pop("forecast_api_key")  # empty keeps the stored key
        if form["organisations"]:
            values.update(await _organisation_changes(container, team_id, form["organisations"]))
        saved = await container.workspace_settings.update(team_id, SettingsChanges(**values), updated_by=user_id)
        log.info("settings.saved", **fields(team=team_id, user=user_id))
        changed = [t for t in set(before.organisation_defaults) | set(saved.organisation_defaults)
                   if before.tracking_for(t) != saved.tracking_for(t)]
        if changed:  # what waiting approvals say about tracking is redrawn from the new choice
            await container.exports.recheck_pending(team_id, changed)
        if before.approval_rules != saved.approval_rules:
            await container.exports.rules_changed(team_id)
        tenants = await container.connections.list_tenants(team_id)
        shown = [c for c in [await container.ledger_choices.last_read(team_id, t.tenant_id) for t in tenants] if c]
        await notify_user(container, user_id, channel_id,
                          blocks.settings_saved(saved, key_changed=bool(form["forecast_api_key"]),
                                                organisations=shown))
        await container.home.refresh(team_id)


async def _organisation_changes(container: Container, team_id: str, picked: dict[str, dict]) -> dict:
    """Each organisation's own choice replaces the old workspace-wide account and tax type, which are
    copied first to organisations the form could not show (Xero unreadable), so they keep what applied."""
    current = await container.workspace_settings.get(team_id)
    chosen: dict[str, OrganisationDefaults] = {}
    for tenant in await container.connections.list_tenants(team_id):
        tracking = current.tracking_for(tenant.tenant_id)
        if tenant.tenant_id in picked:
            kinds = picked[tenant.tenant_id]
            if blocks.TRACKING in kinds:  # offered (the organisation has tracking categories)
                tracking = await _tracking_choice(container, team_id, tenant.tenant_id, kinds[blocks.TRACKING])
            chosen[tenant.tenant_id] = OrganisationDefaults(
                account_code=_unless_default(kinds.get(blocks.ACCOUNT_CODE)),
                tax_type=_unless_default(kinds.get(blocks.TAX_TYPE)), tracking=tracking)
        else:
            account_code, tax_type = current.line_defaults(tenant.tenant_id)
            chosen[tenant.tenant_id] = OrganisationDefaults(account_code=account_code, tax_type=tax_type,
                                                            tracking=tracking)
    return {"organisation_defaults": chosen, "account_code": None, "tax_type": None}


async def _tracking_choice(container: Container, team_id: str, tenant_id: str,
                           value: str | None) -> TrackingChoice | None:
    choices = await container.ledger_choices.last_read(team_id, tenant_id)
    picked = blocks.read_tracking(value, choices)  # checked by `validate`
    category = choices.tracking_category(picked[0]) if picked and choices else None
    if picked is None or category is None:
        return None
    return TrackingChoice(category_id=picked[0], category_name=category.name, by=picked[1], option_name=picked[2])


def _unless_default(value: str | None) -> str | None:
    return None if value in (None, blocks.USE_DEFAULT) else value
