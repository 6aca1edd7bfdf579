"""Messages and modals for connecting, listing and removing Xero organisations."""

from __future__ import annotations

import json

from bot.blocks.common import (
    button,
    context,
    divider,
    error_message,
    escape,
    fields_section,
    header,
    message,
    plain,
    section,
    slack_date,
    user,
)
from bot.blocks.errors import error_words
from services.connections.service import ConsentFailed

STATUS_LABELS = {
    "connected": ":white_check_mark: Connected",
    "needs_reconnect": ":warning: Needs reconnect: run `/xero connect`",
}
TYPE_LABELS = {"ORGANISATION": "Organisation", "PRACTICEMANAGER": "Practice Manager", "PRACTICE": "Practice"}
LINK_LABELS = {"invoice": ("invoice", "invoices"), "purchase_order": ("purchase order", "purchase orders"),
               "client": ("client", "clients")}

CONNECT_LINK_ACTION = "connect_xero_link"
REMOVE_OPEN_ACTION = "remove_tenant_open"
REMOVE_CALLBACK_ID = "remove_tenant_confirm"


def connect_prompt(authorize_url: str, expires_in_minutes: int) -> dict:
    blocks = [
        section(
            "*Connect Xero*\nSign in to Xero and click *Allow access*. You can pick several organisations "
            "in one go; every one you allow will be connected.",
            accessory=button("Connect to Xero", CONNECT_LINK_ACTION, url=authorize_url, style="primary"),
        ),
        context(f"This link works once and expires in {expires_in_minutes} minutes. Only you can see it."),
    ]
    return message("Connect to Xero: open the link to sign in and allow access.", blocks)


def connect_link_used() -> dict:
    """Replaces the Connect prompt once its single-use button was clicked."""
    text = ("Xero's sign-in page is open in your browser: sign in there and click *Allow access*. "
            "This link is used; run `/xero connect` again for a new one.")
    return message("Xero's sign-in page is open in your browser.", [section(f":hourglass_flowing_sand: {text}")])


def connect_answer_done(tenants) -> dict:
    """The `/xero connect` answer once Xero's consent came back: which organisations are connected now."""
    text = f":white_check_mark: Connected {organisations_line(tenants)}. Run `/xero list` to see every organisation."
    return message(f"Connected {', '.join(t.name for t in tenants)}", [section(text)])


def organisations_line(tenants) -> str:
    return ", ".join(f"*{escape(t.name)}*" for t in tenants)


def consent_succeeded(tenants) -> dict:
    count = len(tenants)
    noun = "organisation" if count == 1 else "organisations"
    text = f":tada: Connected {count} Xero {noun}: {organisations_line(tenants)}"
    blocks = [section(text), context("See them any time with `/xero list`.")]
    return message(text, blocks)


def consent_failure_words(failure: ConsentFailed) -> str:
    if failure.reason == "no_organisation":
        return "Xero granted access to no organisation"
    return error_words(failure.error) if failure.error else "Xero did not finish the sign-in"


def consent_failed(failure: ConsentFailed) -> dict:
    return error_message(
        f"Connecting to Xero did not work: {escape(consent_failure_words(failure))}",
        "Nothing was saved. Try again with `/xero connect`.",
    )


def disconnect_failed(error: Exception) -> dict:
    return error_message(f"Xero could not disconnect the organisation: {error_words(error)}",
                         "Nothing was changed. Try again in a few minutes.")


def consent_declined() -> dict:
    return error_message(
        "Access to Xero was not granted, so nothing was connected.",
        "If that was a mistake, run `/xero connect` again and click *Allow access*.",
    )


def organisations_list(tenants) -> dict:
    if not tenants:
        return message(
            "No Xero organisation is connected yet.",
            [section("No Xero organisation is connected yet."),
             context("An admin can connect one with `/xero connect`.")],
        )
    blocks = [header(f"Connected Xero organisations ({len(tenants)})")]
    for tenant in tenants:
        blocks.append(section(f"*{escape(tenant.name)}*"))
        kind = [] if tenant.tenant_type == "ORGANISATION" else [  # only the unusual kinds say what they are
            ("Kind", TYPE_LABELS.get(tenant.tenant_type, tenant.tenant_type.title()))]
        blocks.append(fields_section([
            *kind,
            ("Status", STATUS_LABELS.get(tenant.status, tenant.status)),
            ("Connected by", user(tenant.connected_by)),
            ("Connected", slack_date(tenant.connected_at)),
        ]))
        blocks.append(divider())
    blocks[-1] = context("Admins: `/xero connect` adds or reconnects organisations, `/xero remove` disconnects one.")
    text = "Connected Xero organisations: " + ", ".join(t.name for t in tenants)
    return message(text, blocks)


def remove_picker(tenants) -> dict:
    if not tenants:
        return error_message("No Xero organisation is connected, so there is nothing to remove.",
                             "Connect one with `/xero connect`.")
    blocks = [section("*Which organisation do you want to disconnect?*")]
    for tenant in tenants:
        blocks.append(section(
            f"*{escape(tenant.name)}*\n{STATUS_LABELS.get(tenant.status, tenant.status)}",
            accessory=button("Remove", REMOVE_OPEN_ACTION, tenant.tenant_id, style="danger"),
        ))
    blocks.append(context("You will see what gets unlinked and confirm before anything changes."))
    return message("Choose an organisation to remove.", blocks)


def remove_ambiguous(query: str, tenants) -> dict:
    names = organisations_line(tenants)
    return error_message(f"More than one organisation matches “{escape(query)}”: {names}.",
                         "Type more of the name, or run `/xero remove` and pick one.")


def remove_not_found(query: str) -> dict:
    return error_message(f"No connected organisation is called “{escape(query)}”.",
                         "Run `/xero list` to see the names, or `/xero remove` to pick one.")


def _linked_words(linked: dict[str, int]) -> str:
    return ", ".join(f"{count} {LINK_LABELS[kind][count != 1]}" for kind, count in linked.items())


def remove_modal(preview, *, channel_id: str | None, waiting: int = 0) -> dict:
    tenant = preview.tenant
    waiting_line = (f"• {waiting} {'request' if waiting == 1 else 'requests'} waiting for approval "
                    f"{'goes' if waiting == 1 else 'go'} to no organisation: the approver is asked to choose "
                    "another one (nothing is moved by itself).\n") if waiting else ""
    blocks = [
        section(f"You are about to disconnect *{escape(tenant.name)}* from this Slack workspace."),
        section(
            "*What happens*\n"
            f"• {_linked_words(preview.linked)} stop being linked to this organisation. "
            "The links are kept for the audit trail.\n"
            f"{waiting_line}"
            "• New exports will no longer go to this organisation.\n"
            "• The bot disconnects from it in Xero. Nothing is deleted in Xero or in Forecast."
        ),
        context("Reconnecting later is safe: connect the same organisation with `/xero connect` and its links come "
                "back (invoices, clients, purchase orders, payments); what changed in Xero meanwhile is read at the "
                "next sync, and an invoice already in one organisation is never created in another unless an admin "
                "clicks *Export again anyway*."),
    ]
    return {
        "type": "modal",
        "callback_id": REMOVE_CALLBACK_ID,
        "private_metadata": json.dumps({"tenant_id": tenant.tenant_id, "channel_id": channel_id}),
        "title": plain("Remove organisation"),
        "submit": plain("Remove"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def removal_done(result, removed_by: str) -> dict:
    counted = _linked_words(result.linked) if result.linked else f"{result.unlinked} links"
    text = (f":wastebasket: {user(removed_by)} removed *{escape(result.tenant.name)}*. "
            f"{counted} were marked unlinked.")
    blocks = [section(text)]
    if result.xero_still_listed:
        blocks.append(context(":information_source: Xero no longer accepts this connection's credentials, so the "
                              "app may still be listed under Connected apps in Xero; you can disconnect it there."))
    return message(f"Removed {result.tenant.name}", blocks)


def not_admin(usage: str, admins: list[str] | None = None) -> dict:
    """`admins`: whom to ask (Slack ids); the first few are named."""
    shown = list(admins or [])[:5]
    ask = (f"Ask {_or_list([user(a) for a in shown])} to run it for you." if shown
           else "Ask one of them to run it for you.")
    return error_message(
        f"Only admins can run `{usage}`.",
        "Admins are Slack workspace admins and owners, and the people the bot's operator named as admins. " + ask,
    )


def _or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def no_longer_connected() -> dict:
    """A Remove button of an organisation someone removed meanwhile."""
    return error_message("That organisation is no longer connected.", "Run `/xero list`.")


def already_removed() -> dict:
    return error_message("That organisation was already removed.", "Run `/xero list` to check.")
