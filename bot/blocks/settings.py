"""The /xero settings modal and its confirmation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.blocks.common import (
    context,
    escape,
    fields_section,
    header,
    message,
    plain,
    section,
    user,
)
from bot.blocks.errors import error_words, forecast_words
from bot.blocks.exports import rule_words
from services.forecast import ForecastError

SETTINGS_CALLBACK_ID = "workspace_settings"
NO_USERGROUP = "none"

APPROVAL_CHANNEL = "approval_channel"
NOTIFY_CHANNEL = "notify_channel"
APPROVER_USERS = "approver_users"
APPROVER_USERGROUP = "approver_usergroup"
EXPORT_STATUS = "export_status"
ACCOUNT_CODE = "account_code"  # per organisation: "account_code|<tenant id>"
TAX_TYPE = "tax_type"
TRACKING = "tracking"  # per organisation too; values: NO_TRACKING, "<category id>|client", "<category id>|project",
# "<category id>|fixed|<option id>"
NO_TRACKING = "none"
FORECAST_API_KEY = "forecast_api_key"
FORECAST_KEY_DEFAULT = "forecast_key_default"
AUTO_REQUEST = "auto_request_on"
DIGEST_HOUR = "digest_hour"
DIGEST_CHANNEL = "digest_channel"
NO_DIGEST = "off"
USE_DEFAULT = "default"  # the option value meaning "no choice of ours: Xero's own default"
RULE_AMOUNT, RULE_CLIENT, RULE_ORGANISATION, RULE_APPROVERS, RULE_TWO = (
    "rule_amount", "rule_client", "rule_organisation", "rule_approvers", "rule_two")  # "<kind>|<slot>"
RULE_KINDS = (RULE_AMOUNT, RULE_CLIENT, RULE_ORGANISATION, RULE_APPROVERS, RULE_TWO)
MAX_RULES = 5
ANY_ORGANISATION = "any"

STATUS_LABELS = {"DRAFT": "Draft (someone approves it in Xero)", "AUTHORISED": "Approved (Authorised) at once"}
STATUS_SHORT = {"DRAFT": "Draft", "AUTHORISED": "Approved (Authorised)"}


def organisation_block(kind: str, tenant_id: str) -> str:
    return f"{kind}|{tenant_id}"


def split_organisation_block(block_id: str) -> tuple[str, str] | None:
    kind, _, tenant_id = block_id.partition("|")
    return (kind, tenant_id) if tenant_id and kind in (ACCOUNT_CODE, TAX_TYPE, TRACKING) else None


def tracking_value(choice, choices) -> str:
    """The picker's value for a stored TrackingChoice (None: no tracking); a fixed option is stored by name."""
    if choice is None:
        return NO_TRACKING
    if choice.by != "fixed":
        return f"{choice.category_id}|{choice.by}"
    category = choices.tracking_category(choice.category_id)
    option_id = next((oid for oid, name in (category.options if category else []) if name == choice.option_name), "")
    return f"{choice.category_id}|fixed|{option_id}"


def read_tracking(value: str | None, choices) -> tuple[str, str, str | None] | None:
    """(category id, by, fixed option's name) for a picked value the organisation offered; None: no tracking.
    Raises ValueError for a value it did not offer."""
    if value in (None, NO_TRACKING):
        return None
    category_id, _, rest = (value or "").partition("|")
    by, _, option_id = rest.partition("|")
    category = choices.tracking_category(category_id) if choices else None
    if category is None or by not in ("client", "project", "fixed"):
        raise ValueError(value)
    if by != "fixed":
        return category_id, by, None
    name = next((n for oid, n in category.options if oid == option_id), None)
    if name is None:
        raise ValueError(value)
    return category_id, by, name


def _input(block_id: str, label: str, element: dict, *, hint: str | None = None, optional: bool = True) -> dict:
    block = {"type": "input", "block_id": block_id, "optional": optional, "label": plain(label),
             "element": {**element, "action_id": block_id}}
    if hint:
        block["hint"] = plain(hint)
    return block


def _channel_select(initial: str | None) -> dict:
    element = {"type": "conversations_select", "placeholder": plain("Choose a channel"),
               "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
    if initial:
        element["initial_conversation"] = initial
    return element


def _option(value: str, label: str) -> dict:
    return {"text": plain(label[:75]), "value": value}


def _select(options: list[dict], chosen: str | None, placeholder: str) -> dict:
    element = {"type": "static_select", "placeholder": plain(placeholder), "options": options[:100]}
    initial = next((o for o in element["options"] if o["value"] == chosen), None)
    if initial:
        element["initial_option"] = initial
    return element


def _rate(rate, name: str | None = None) -> str:
    """" (20%)" after a tax rate's name, unless the name says it already ("20% (VAT on Income)")."""
    if rate is None:
        return ""
    percent = f"{rate.normalize():f}%"
    return "" if name and percent in name else f" ({percent})"


def organisation_blocks(current, organisations) -> list[dict]:
    """Per organisation, an account and a tax type picker filled from its own lists in Xero.

    `organisations`: OrganisationChoices, or None while they are being read."""
    blocks = [header("Invoice lines, per organisation")]
    if organisations is None:
        return blocks + [context(":hourglass_flowing_sand: Reading each organisation's accounts and tax rates "
                                 "from Xero…")]
    if not organisations:
        return blocks + [context("No organisation is connected yet. Connect one with `/xero connect`; "
                                 "then choose its revenue account and tax type here.")]
    for choices in organisations:
        tenant = choices.tenant
        account_code, tax_type = current.line_defaults(tenant.tenant_id)
        if choices.error:
            kept = f"account {account_code or 'first revenue account'}, tax {tax_type or 'the account’s own'}"
            why = escape(error_words(choices.error))
            blocks.append(context(f":warning: *{escape(tenant.name)}*: Xero could not be read "
                                  f"({why}). Its choice stays as it is: {escape(kept)}."))
            continue
        first = choices.accounts[0] if choices.accounts else None
        accounts = [_option(USE_DEFAULT, f"Xero's first revenue account ({first.code} {first.name})" if first
                            else "Xero's first revenue account")]
        accounts += [_option(a.code, f"{a.code} · {a.name}") for a in choices.accounts]
        taxes = [_option(USE_DEFAULT, "The account's own tax type")]
        taxes += [_option(t.tax_type, f"{t.name}{_rate(t.rate, t.name)}") for t in choices.tax_rates]
        blocks += [*_tracking_input(current, choices)]
        blocks += [
            _input(organisation_block(ACCOUNT_CODE, tenant.tenant_id), f"{tenant.name}: revenue account",
                   _select(accounts, account_code or USE_DEFAULT, "Choose an account"), optional=False,
                   hint="The account every exported invoice line is booked on."),
            _input(organisation_block(TAX_TYPE, tenant.tenant_id), f"{tenant.name}: tax rate",
                   _select(taxes, tax_type or USE_DEFAULT, "Choose a tax rate"), optional=False,
                   hint="Xero works out the tax with this rate; check it matches the tax % in Forecast."),
        ]
    return blocks


def _tracking_input(current, choices) -> list[dict]:
    """A picker of the organisation's tracking category and how its option is chosen (none when it has none)."""
    if not choices.tracking:
        return []
    options = [_option(NO_TRACKING, "No tracking category")]
    for category in choices.tracking:
        name = category.name
        options += [_option(f"{category.category_id}|project", f"{name}: the Forecast project's name"),
                    _option(f"{category.category_id}|client", f"{name}: the client's name")]
        options += [_option(f"{category.category_id}|fixed|{option_id}", f"{name}: always {option}")
                    for option_id, option in category.options]
    value = tracking_value(current.tracking_for(choices.tenant.tenant_id), choices)
    return [_input(organisation_block(TRACKING, choices.tenant.tenant_id),
                   f"{choices.tenant.name}: tracking category", _select(options, value, "Choose a tracking category"),
                   optional=False,
                   hint="Every exported line carries this option. A project or client without an option gets "
                        "one created in Xero when the invoice is exported.")]


def rule_block(kind: str, slot: int) -> str:
    return f"{kind}|{slot}"


def split_rule_block(block_id: str) -> tuple[str, int] | None:
    kind, _, slot = block_id.partition("|")
    return (kind, int(slot)) if kind in RULE_KINDS and slot.isdigit() else None


def rules_blocks(current, tenants) -> list[dict]:
    """The workspace's approval rules, one group of inputs each, and one empty group to add a rule.

    `tenants`: (tenant id, name) of the connected organisations (a rule may be for one of them)."""
    rules = list(current.approval_rules)[:MAX_RULES]
    blocks = [header("Approval rules"),
              context("An export that matches a rule needs what it says before it goes to Xero. Leave a rule's "
                      "fields empty to remove it.")]
    for slot in range(min(len(rules) + 1, MAX_RULES)):
        rule = rules[slot] if slot < len(rules) else None
        blocks += _rule_inputs(slot, rule, tenants)
    return blocks


def _rule_inputs(slot: int, rule, tenants) -> list[dict]:
    n = slot + 1
    amount = {"type": "plain_text_input", "placeholder": plain("e.g. GBP 5000")}
    if rule is not None and rule.above is not None:
        amount["initial_value"] = f"{rule.currency} {rule.above.normalize():f}"
    client = {"type": "plain_text_input", "placeholder": plain("The client's name in Forecast")}
    if rule is not None and rule.client_name:
        client["initial_value"] = rule.client_name
    organisations = [_option(ANY_ORGANISATION, "Any organisation")] + [_option(tid, name) for tid, name in tenants]
    users = {"type": "multi_users_select", "placeholder": plain("Choose people")}
    if rule is not None and rule.approvers:
        users["initial_users"] = list(rule.approvers)
    two = {"type": "checkboxes", "options": [_option("yes", "Two different people must approve")]}
    if rule is not None and rule.two_approvers:
        two["initial_options"] = two["options"]
    return [
        _input(rule_block(RULE_AMOUNT, slot), f"Rule {n}: above this amount", amount,
               hint="A currency and an amount: the rule is for that currency's invoices above it."),
        _input(rule_block(RULE_CLIENT, slot), f"Rule {n}: for this client", client),
        _input(rule_block(RULE_ORGANISATION, slot), f"Rule {n}: going to",
               _select(organisations, rule.tenant_id if rule and rule.tenant_id else ANY_ORGANISATION,
                       "Any organisation")),
        _input(rule_block(RULE_APPROVERS, slot), f"Rule {n}: one of these must approve", users),
        _input(rule_block(RULE_TWO, slot), f"Rule {n}: two approvers", two),
    ]


def _forecast_key_blocks(current) -> list[dict]:
    if current.has_stored_forecast_key:
        hint = "A key is stored; leave this empty to keep it."
    elif current.has_default_forecast_key:
        hint = "Empty: the default key from the server settings is used."
    else:
        hint = "Forecast > Admin > API keys. Required: no key is stored yet."
    blocks = [_input(FORECAST_API_KEY, "Forecast API key", {"type": "plain_text_input"}, hint=hint)]
    if current.has_stored_forecast_key and current.has_default_forecast_key:
        option = _option("yes", "Forget the stored key and use the default key from the server settings")
        blocks.append(_input(FORECAST_KEY_DEFAULT, "Default key", {"type": "checkboxes", "options": [option]}))
    blocks.append(context("The key is checked with Forecast when you save, stored encrypted and never shown again."))
    return blocks


TRIGGER_LABELS = {"APPROVED": "when an invoice is approved in Forecast", "SENT": "when an invoice is sent in Forecast"}


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00"


def auto_request_blocks(current) -> list[dict]:
    """Invoices that ask to be exported by themselves, and the daily digest of what still waits."""
    triggers = [_option(code, label) for code, label in TRIGGER_LABELS.items()]
    asked = {"type": "checkboxes", "options": triggers}
    chosen = [o for o in triggers if o["value"] in current.auto_request_on]
    if chosen:
        asked["initial_options"] = chosen
    hours = [_option(NO_DIGEST, "No digest")] + [_option(str(h), hour_label(h)) for h in range(24)]
    chosen_hour = NO_DIGEST if current.digest_hour is None else str(current.digest_hour)
    return [
        header("Invoices that ask to be exported"),
        _input(AUTO_REQUEST, "Ask for approval by itself", asked,
               hint="The bot reads Forecast's invoices every few minutes and posts one approval request for those "
                    "that became approved or sent and are not in Xero yet."),
        _input(DIGEST_HOUR, "Daily digest of what still waits", _select(hours, chosen_hour, "Choose an hour"),
               hint=f"In your time zone ({current.digest_tz if current.digest_hour is not None else 'from Slack'}); "
                    "nothing is posted on a day when nothing waits."),
        _input(DIGEST_CHANNEL, "Digest channel", _channel_select(current.digest_channel),
               hint="Empty: the approval channel."),
    ]


def settings_modal(current, *, usergroups: Sequence[tuple[str, str]] | None, channel_id: str | None,
                   organisations=None) -> dict:
    """`current`: WorkspaceSettings; `usergroups`: (id, name) pairs, or None when Slack would not list them;
    `organisations`: each organisation's OrganisationChoices, or None while they are being read."""
    users = {"type": "multi_users_select", "placeholder": plain("Choose people")}
    if current.approver_users:
        users["initial_users"] = current.approver_users
    statuses = [_option(code, label) for code, label in STATUS_LABELS.items()]
    blocks = [
        _input(APPROVAL_CHANNEL, "Approval channel", _channel_select(current.approval_channel), optional=False,
               hint="Export requests with Approve / Reject buttons are posted here. Invite the bot to it."),
        _input(NOTIFY_CHANNEL, "Notification channel", _channel_select(current.notify_channel),
               hint="Failed exports are reported here, with a Retry button."),
        _input(APPROVER_USERS, "Approvers", users,
               hint="Who may approve exports. Leave empty (and no group) to let workspace admins approve."),
    ]
    if usergroups:
        options = [_option(NO_USERGROUP, "No group")] + [_option(gid, name) for gid, name in usergroups[:99]]
        group = {"type": "static_select", "placeholder": plain("Choose a user group"), "options": options}
        chosen = next((o for o in options if o["value"] == current.approver_usergroup), None)
        if chosen:
            group["initial_option"] = chosen
        blocks.append(_input(APPROVER_USERGROUP, "Approver group", group,
                             hint="Members of this Slack user group may approve exports too."))
    blocks += [
        _input(EXPORT_STATUS, "Status of exported invoices",
               {"type": "radio_buttons", "options": statuses,
                "initial_option": next(o for o in statuses if o["value"] == current.export_status)},
               optional=False),
    ]
    blocks += _forecast_key_blocks(current)
    blocks += auto_request_blocks(current)
    blocks += organisation_blocks(current, organisations)
    if organisations is not None:
        blocks += rules_blocks(current, [(c.tenant.tenant_id, c.tenant.name) for c in organisations])
    return {
        "type": "modal",
        "callback_id": SETTINGS_CALLBACK_ID,
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "title": plain("Xero settings"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def settings_saved(saved, *, key_changed: bool, organisations=()) -> dict:
    """`organisations`: the OrganisationChoices the form showed, to name each organisation's choice."""
    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else "not set"

    approvers = [user(u) for u in saved.approver_users]
    if saved.approver_usergroup:
        approvers.append(f"<!subteam^{saved.approver_usergroup}>")
    pairs = [
        ("Approval channel", channel(saved.approval_channel)),
        ("Notification channel", channel(saved.notify_channel)),
        ("Approvers", ", ".join(approvers) or "workspace admins"),
        ("Export status", STATUS_SHORT.get(saved.export_status, saved.export_status)),
        ("Forecast API key", _key_state(saved, key_changed)),
        ("Ask by itself", " and ".join(TRIGGER_LABELS[t] for t in saved.auto_request_on) or "no"),
        ("Daily digest", "none" if saved.digest_hour is None else
         f"{hour_label(saved.digest_hour)} ({escape(saved.digest_tz)}) in "
         f"{channel(saved.digest_channel or saved.approval_channel)}"),
    ]
    blocks = [section(":gear: *Xero settings saved*"), fields_section(pairs)]
    lines = [_organisation_line(saved, choices) for choices in organisations]
    if lines:
        blocks.append(section("*Invoice lines*\n" + "\n".join(lines)))
    if saved.approval_rules:
        blocks.append(section("*Approval rules*\n" + "\n".join(f"• {rule_words(r)}" for r in saved.approval_rules)))
    return message("Xero settings saved.", blocks)


def _key_state(saved, key_changed: bool) -> str:
    if key_changed:
        return "updated (Forecast accepted it)"
    if saved.has_stored_forecast_key:
        return "stored"
    return "the default key from the server settings" if saved.has_default_forecast_key else "not set"


def _organisation_line(saved, choices) -> str:
    account_code, tax_type = saved.line_defaults(choices.tenant.tenant_id)
    account = choices.account(account_code) if account_code else None
    rate = choices.tax_rate(tax_type) if tax_type else None
    account_words = (f"{account.code} {account.name}" if account else account_code) or "first revenue account"
    tax_words = (f"{rate.name}{_rate(rate.rate, rate.name)}" if rate else tax_type) or "the account's own tax rate"
    line = f"• *{escape(choices.tenant.name)}*: {escape(account_words)} · {escape(tax_words)}"
    tracking = saved.tracking_for(choices.tenant.tenant_id)
    if tracking is not None:
        how = {"project": "the project's name", "client": "the client's name"}.get(
            tracking.by, f"always {tracking.option_name}")
        line += f" · tracking {escape(tracking.category_name)}: {escape(how)}"
    return line


def key_check_failed(error: ForecastError) -> str:
    """The settings form's answer when Forecast could not be asked about a new key (not a refusal)."""
    return (f"I could not check this key with Forecast ({forecast_words(error, quote=False)}). "
            "Try again in a minute; nothing was saved.")


# What is wrong with a submitted form, next to the field it concerns ------------------------------------

FormProblemCode = Literal[
    "no_approval_channel", "unknown_status", "channel_not_found", "channel_archived", "channel_not_joined",
    "approver_is_bot", "approver_deactivated", "account_not_offered", "tax_rate_not_offered",
    "key_and_default", "no_key_stored", "key_refused", "key_unchecked", "tracking_not_offered",
    "rule_amount_unreadable", "rule_needs_approvers"]


@dataclass(frozen=True)
class FormProblem:
    """Why one field of the settings form cannot be saved: a code, and the person it names (approvers)."""

    code: FormProblemCode
    user_id: str | None = None
    error: ForecastError | None = None  # key_unchecked: why Forecast could not be asked


FORM_PROBLEMS: dict[str, str] = {  # key_unchecked: key_check_failed
    "no_approval_channel": "Choose a channel: export requests wait for approval there.",
    "unknown_status": "Choose Draft or Approved.",
    "channel_not_found": "I can't find that channel. Pick another one, or invite me to it first.",
    "channel_archived": "That channel is archived. Pick another one.",
    "channel_not_joined": "I'm not in that channel yet. Type `/invite @Ledgerline` in it, then save again.",
    "approver_is_bot": "<@{user}> is a bot and cannot approve exports. Choose people.",
    "approver_deactivated": "<@{user}> is deactivated. Choose people who can approve.",
    "account_not_offered": "That is not an active revenue account of this organisation. Choose one from the list.",
    "tax_rate_not_offered": "That is not an active tax rate for sales in this organisation. Choose one from the list.",
    "key_and_default": "Paste a new key or use the default key, not both.",
    "no_key_stored": "Paste a Forecast API key (Forecast > Admin > API keys): none is stored yet.",
    "key_refused": "Forecast refused this key. Copy it again from Forecast > Admin > API keys; nothing was saved.",
    "tracking_not_offered": "That tracking category or option is no longer active in this organisation. "
                            "Choose one from the list.",
    "rule_amount_unreadable": "Write a currency and an amount, e.g. GBP 5000 (or leave it empty).",
    "rule_needs_approvers": "Choose who must approve, or tick two approvers (or empty the whole rule to remove it).",
}


def form_problem(problem: FormProblem) -> str:
    if problem.code == "key_unchecked" and problem.error is not None:
        return key_check_failed(problem.error)
    return FORM_PROBLEMS[problem.code].format(user=problem.user_id)


def form_errors(problems: dict[str, FormProblem]) -> dict[str, str]:
    """Slack's `response_action: errors`: block id -> what is wrong, in words."""
    return {block_id: form_problem(problem) for block_id, problem in problems.items()}
