"""/xero settings: the modal, its inline validation and saving."""

from __future__ import annotations

import asyncio
import logging
import re
from decimal import Decimal

from slack_bolt.async_app import AsyncApp

from bot.blocks import requests as request_blocks
from bot.blocks import settings as blocks
from bot.blocks.connections import not_admin
from bot.blocks.settings import FormProblem
from bot.container import Container
from bot.requests import State, ViewSubmission
from bot.slack_gateway import WorkspaceGateway
from handlers.connections import notify_user
from handlers.router import CommandContext, CommandRouter
from services.connections.settings_checks import LineChoice
from services.platform.logfmt import fields
from services.shared.settings import ApprovalRule, OrganisationDefaults, SettingsChanges, TrackingChoice

log = logging.getLogger(__name__)


async def open_settings(ctx: CommandContext) -> None:
    """Opens the form at once (the trigger expires in 3 s), then fills in each organisation's lists from Xero."""
    container = ctx.container
    await ctx.later()  # everything below waits on Slack or Xero
    slack = container.gateway.for_team(ctx.team_id)
    current = await container.workspace_settings.get(ctx.team_id)
    usergroups = await slack.usergroups()
    opened = await slack.open_modal(
        ctx.trigger_id, blocks.settings_modal(current, usergroups=usergroups, channel_id=ctx.channel_id))
    if opened is None:  # the gateway logged why
        await ctx.reply(request_blocks.unexpected_failure())
        return
    organisations = await container.ledger_choices.for_team(ctx.team_id)
    await slack.update_modal(opened["id"], blocks.settings_modal(  # closed meanwhile: logged, nothing to do
        current, usergroups=usergroups, channel_id=ctx.channel_id, organisations=organisations))


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
        "auto_request_on": [o.value for o in element(blocks.AUTO_REQUEST).selected_options
                            if o.value in blocks.TRIGGER_LABELS],
        "digest_hour": _hour(chosen(blocks.DIGEST_HOUR)),
        "digest_channel": element(blocks.DIGEST_CHANNEL).selected_conversation,
        "auto_shown": blocks.AUTO_REQUEST in state.values,
    }


def _hour(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 <= int(value) < 24 else None


async def validate(container: Container, team_id: str, form: dict) -> dict[str, FormProblem]:
    """Every check at once (Slack waits 3 s for the answer); block id -> what is wrong."""
    slack = container.gateway.for_team(team_id)

    async def channel(block_id: str) -> dict[str, FormProblem]:
        problem = await _channel_problem(slack, form[block_id]) if form[block_id] else None
        return {block_id: problem} if problem else {}

    async def approvers() -> dict[str, FormProblem]:
        problem = await _approvers_problem(slack, form["approver_users"])
        return {blocks.APPROVER_USERS: problem} if problem else {}

    async def key() -> dict[str, FormProblem]:
        found = await container.settings_checks.key_problem(team_id, form["forecast_api_key"],
                                                            form["use_default_forecast_key"])
        return {blocks.FORECAST_API_KEY: FormProblem(found.code, error=found.error)} if found else {}

    errors: dict[str, FormProblem] = {}
    if form["rules"] is not None:
        errors.update(rules_from_form(form["rules"], {})[1])
    if not form["approval_channel"]:
        errors[blocks.APPROVAL_CHANNEL] = FormProblem("no_approval_channel")
    if form["export_status"] not in blocks.STATUS_LABELS:
        errors[blocks.EXPORT_STATUS] = FormProblem("unknown_status")
    for found in await asyncio.gather(channel(blocks.APPROVAL_CHANNEL), channel(blocks.NOTIFY_CHANNEL),
                                      channel(blocks.DIGEST_CHANNEL), approvers(),
                                      _organisation_problems(container, team_id, form["organisations"]), key()):
        errors.update(found)
    return errors


AMOUNT = re.compile(r"^\s*([A-Za-z]{3})\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s*$|"
                    r"^\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s*([A-Za-z]{3})\s*$")


def rules_from_form(slots: dict[int, dict],
                    tenant_names: dict[str, str]) -> tuple[list[ApprovalRule], dict[str, FormProblem]]:
    """The rules the form's groups describe (an empty group is none), and what is wrong, per block id."""
    found: list[ApprovalRule] = []
    errors: dict[str, FormProblem] = {}
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
                errors[blocks.rule_block(blocks.RULE_AMOUNT, slot)] = FormProblem("rule_amount_unreadable")
                continue
            currency = (match.group(1) or match.group(4)).upper()
            above = Decimal((match.group(2) or match.group(3)).replace(",", ""))
        if not approvers and not two:
            errors[blocks.rule_block(blocks.RULE_APPROVERS, slot)] = FormProblem("rule_needs_approvers")
            continue
        found.append(ApprovalRule(currency=currency, above=above, client_name=client, tenant_id=organisation,
                                  tenant_name=tenant_names.get(organisation or ""), approvers=approvers,
                                  two_approvers=two))
    return found, errors


async def _approvers_problem(slack: WorkspaceGateway, user_ids: list[str]) -> FormProblem | None:
    """Bots (this one included) and deactivated accounts cannot click Approve."""
    for user_id in user_ids:
        person = await slack.user(user_id)
        if person is None:
            continue  # cannot tell: let it be
        if person.is_bot:
            return FormProblem("approver_is_bot", user_id=user_id)
        if person.deleted:
            return FormProblem("approver_deactivated", user_id=user_id)
    return None


async def _organisation_problems(container: Container, team_id: str,
                                 picked: dict[str, dict]) -> dict[str, FormProblem]:
    """Each picked account and tax rate must be one the organisation offered (active, for revenue)."""
    choices = {tenant_id: LineChoice(account_code=_unless_default(kinds.get(blocks.ACCOUNT_CODE)),
                                     tax_type=_unless_default(kinds.get(blocks.TAX_TYPE)))
               for tenant_id, kinds in picked.items()}
    errors: dict[str, FormProblem] = {}
    for tenant_id, refused in (await container.settings_checks.not_offered(team_id, choices)).items():
        for kind in refused:
            errors[blocks.organisation_block(kind, tenant_id)] = FormProblem(
                "account_not_offered" if kind == "account_code" else "tax_rate_not_offered")
    for tenant_id, picks in picked.items():
        if picks.get(blocks.TRACKING) in (None, blocks.NO_TRACKING):
            continue
        try:
            offered = await container.ledger_choices.last_read(team_id, tenant_id)
            blocks.read_tracking(picks.get(blocks.TRACKING), offered)
        except ValueError:
            errors[blocks.organisation_block(blocks.TRACKING, tenant_id)] = FormProblem("tracking_not_offered")
    return errors


async def _channel_problem(slack: WorkspaceGateway, channel_id: str) -> FormProblem | None:
    """Why the bot could not post in the channel; None when it can (or cannot tell: Slack decides later)."""
    channel = await slack.channel(channel_id)
    if channel is None:
        return None
    if not channel.found:
        return FormProblem("channel_not_found")
    if channel.is_archived:
        return FormProblem("channel_archived")
    if channel.is_member is False:  # without chat:write.public the bot may only post where it is a member
        return FormProblem("channel_not_joined")
    return None


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("settings", open_settings, usage="/xero settings", admin_only=True, example="/xero settings",
               summary="Choose the approval and notification channels, approvers, invoice status, the Forecast "
                       "API key, and per organisation the revenue account and tax rate of exported lines.")

    @app.view(blocks.SETTINGS_CALLBACK_ID)
    async def save_settings(ack, context):
        submission = ViewSubmission.of(context)
        user_id, team_id, channel_id = submission.user_id, submission.team_id, submission.metadata.channel_id
        if not await container.permissions.is_admin(team_id, user_id):
            await ack()
            await notify_user(container, team_id, user_id, channel_id, not_admin("/xero settings"))
            return
        form = read_form(submission.view.state)
        errors = await validate(container, team_id, form)
        if errors:
            await ack(response_action="errors", errors=blocks.form_errors(errors))
            return
        before = await container.workspace_settings.get(team_id)  # read before Slack is answered: saved right after
        await ack()
        values = {k: v for k, v in form.items()
                  if k not in ("usergroup_shown", "organisations", "auto_shown", "rules")}
        if not form["auto_shown"]:  # a form from before these fields: keep what is stored
            for name in ("auto_request_on", "digest_hour", "digest_channel"):
                values.pop(name)
        elif form["digest_hour"] is not None:
            values["digest_tz"] = await container.gateway.for_team(team_id).time_zone(user_id) or "UTC"
        if form["rules"] is not None:
            names = {t.tenant_id: t.name for t in await container.connections.list_tenants(team_id)}
            values["approval_rules"] = rules_from_form(form["rules"], names)[0]
        if not form["usergroup_shown"]:
            values.pop("approver_usergroup")  # the field was not offered: keep what is stored
        if not values["forecast_api_key"]:
            values.pop("forecast_api_key")  # empty keeps the stored key
        if form["organisations"]:
            current = await container.workspace_settings.get(team_id)
            tenant_ids = [t.tenant_id for t in await container.connections.list_tenants(team_id)]
            values.update(current.organisation_changes(
                await _picked_defaults(container, team_id, form["organisations"]), tenant_ids))
        saved = await container.workspace_settings.update(team_id, SettingsChanges(**values), updated_by=user_id)
        log.info("settings.saved", **fields(team=team_id, user=user_id))
        changed = [t for t in set(before.organisation_defaults) | set(saved.organisation_defaults)
                   if before.tracking_for(t) != saved.tracking_for(t)]
        if changed:  # what waiting approvals say about tracking is redrawn from the new choice
            await container.exports.recheck_pending(team_id, changed)
        if saved.auto_request_on and not before.auto_request_on:
            await container.auto_requests.started(team_id)
        if before.approval_rules != saved.approval_rules:
            await container.exports.rules_changed(team_id)
        tenants = await container.connections.list_tenants(team_id)
        shown = [c for c in [await container.ledger_choices.last_read(team_id, t.tenant_id) for t in tenants] if c]
        await notify_user(container, team_id, user_id, channel_id,
                          blocks.settings_saved(saved, key_changed=bool(form["forecast_api_key"]),
                                                organisations=shown))
        await container.home.refresh(team_id)


async def _picked_defaults(container: Container, team_id: str,
                           picked: dict[str, dict]) -> dict[str, OrganisationDefaults]:
    """The form's account, tax type and tracking per organisation ("use the default" is no choice; an
    organisation whose form had no tracking picker keeps its tracking)."""
    current = await container.workspace_settings.get(team_id)
    chosen: dict[str, OrganisationDefaults] = {}
    for tenant_id, kinds in picked.items():
        tracking = current.tracking_for(tenant_id)
        if blocks.TRACKING in kinds:  # offered (the organisation has tracking categories)
            tracking = await _tracking_choice(container, team_id, tenant_id, kinds[blocks.TRACKING])
        chosen[tenant_id] = OrganisationDefaults(account_code=_unless_default(kinds.get(blocks.ACCOUNT_CODE)),
                                                 tax_type=_unless_default(kinds.get(blocks.TAX_TYPE)),
                                                 tracking=tracking)
    return chosen


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
