"""The /xero settings modal and its confirmation."""

from __future__ import annotations

import json

from bot.blocks.common import (
    context,
    escape,
    fields_section,
    message,
    plain,
    section,
    user,
)

SETTINGS_CALLBACK_ID = "workspace_settings"
NO_USERGROUP = "none"

APPROVAL_CHANNEL = "approval_channel"
NOTIFY_CHANNEL = "notify_channel"
APPROVER_USERS = "approver_users"
APPROVER_USERGROUP = "approver_usergroup"
EXPORT_STATUS = "export_status"
ACCOUNT_CODE = "account_code"
TAX_TYPE = "tax_type"
FORECAST_API_KEY = "forecast_api_key"

STATUS_LABELS = {"DRAFT": "Draft (someone approves it in Xero)", "AUTHORISED": "Approved (Authorised) at once"}


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


def settings_modal(current, *, usergroups: list[tuple[str, str]] | None, channel_id: str | None) -> dict:
    """`current`: WorkspaceSettings; `usergroups`: (id, name) pairs, or None when Slack would not list them."""
    users = {"type": "multi_users_select", "placeholder": plain("Choose people")}
    if current.approver_users:
        users["initial_users"] = current.approver_users
    statuses = [_option(code, label) for code, label in STATUS_LABELS.items()]
    text_code = {"type": "plain_text_input", "max_length": 10}
    if current.account_code:
        text_code["initial_value"] = current.account_code
    text_tax = {"type": "plain_text_input", "max_length": 50}
    if current.tax_type:
        text_tax["initial_value"] = current.tax_type
    key_hint = ("A key is stored; leave this empty to keep it." if current.has_forecast_key
                else "Forecast > Admin > API keys. Required: no key is stored yet.")
    blocks = [
        _input(APPROVAL_CHANNEL, "Approval channel", _channel_select(current.approval_channel),
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
        _input(ACCOUNT_CODE, "Default account code", text_code,
               hint="Revenue account for the invoice lines, e.g. 200. "
                    "Empty: the organisation's first revenue account."),
        _input(TAX_TYPE, "Default tax type", text_tax,
               hint="Xero tax type for the lines, e.g. OUTPUT2. Empty: the account's own tax type."),
        _input(FORECAST_API_KEY, "Forecast API key", {"type": "plain_text_input"}, hint=key_hint),
        context("The Forecast key is stored encrypted and never shown again."),
    ]
    return {
        "type": "modal",
        "callback_id": SETTINGS_CALLBACK_ID,
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "title": plain("Xero settings"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def settings_saved(saved, *, key_changed: bool) -> dict:
    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else "not set"

    approvers = [user(u) for u in saved.approver_users]
    if saved.approver_usergroup:
        approvers.append(f"<!subteam^{saved.approver_usergroup}>")
    pairs = [
        ("Approval channel", channel(saved.approval_channel)),
        ("Notification channel", channel(saved.notify_channel)),
        ("Approvers", ", ".join(approvers) or "workspace admins"),
        ("Export status", saved.export_status),
        ("Account code", escape(saved.account_code or "organisation default")),
        ("Tax type", escape(saved.tax_type or "account default")),
        ("Forecast API key", "updated" if key_changed else ("stored" if saved.has_forecast_key else "not set")),
    ]
    return message("Xero settings saved.", [section(":gear: *Xero settings saved*"), fields_section(pairs)])
