"""Modals, options and summaries for importing customers and purchase orders. Pure functions.

Slack's limits are enforced here: at most 100 blocks per view (50 per message), 100 options per select,
75 characters per option text and 3,000 per text block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    divider,
    error_message,
    escape,
    header,
    message,
    plain,
    section,
    slack_date,
)
from bot.blocks.errors import error_words
from services.imports.common import ImportProblem, ImportSummary, OrganisationStatus, Outcome
from services.imports.purchase_orders import ALL_STATUSES, PurchaseOrderListing, PurchaseOrderRow

MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_BLOCKS = 50
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_TEXT = 3000
VALUE_SEPARATOR = "|"

CUSTOMERS_CALLBACK = "import_customers"
CUSTOMERS_BLOCK = "import_customers_pick"
CUSTOMERS_ACTION = "import_customers_search"

PO_CALLBACK = "import_purchase_orders"
PO_STATUS_BLOCK = "import_po_status"
PO_STATUS_ACTION = "import_po_status"
PO_PROJECT_BLOCK = "import_po_project"
PO_PROJECT_ACTION = "import_po_project"
PO_PICK_BLOCK = "import_po_pick"
PO_PICK_ACTION = "import_po_pick"

CUSTOMERS_TITLE = "Import customers"
PO_TITLE = "Import purchase orders"
NO_CUSTOMERS_PICKED = "Pick at least one customer to import."
NO_ORDERS_PICKED = "Pick at least one purchase order to import."
NO_PROJECT_PICKED = "Pick the Forecast project to import into."
STATUS_LABELS = {"DRAFT": "Draft", "SUBMITTED": "Awaiting approval", "AUTHORISED": "Approved",
                 "BILLED": "Billed", "DELETED": "Deleted"}
RESULT_LABELS = {"created": "Created", "linked": "Linked to an existing Forecast client",
                 "similar": "Not created: Forecast has a client with a similar name",
                 "skipped": "Skipped", "failed": "Failed"}
TRY_LATER = "Try again in a few minutes."
PROBLEMS: dict[str, tuple[str, str | None]] = {  # ImportProblem code: what is wrong, what to do instead
    "no_organisations": ("No Xero organisation is connected to this workspace yet.",
                         "Connect one with `/xero connect`, then run the import again."),
    "no_forecast_key": ("The Forecast API key is not set for this workspace.",
                        "An admin can set it with `/xero settings` (or the FORECAST_API_KEY environment variable)."),
    "projects_unreadable": ("Could not read the Forecast projects: {error}", TRY_LATER),
    "project_gone": ("The Forecast project you picked no longer exists, so nothing was imported.",
                     "Run `/xero import purchase-orders` again and pick another project."),
    "no_expense_category": ("Forecast has no expense category to file the purchase orders under.",
                            "Create one in Forecast (Admin > Expense categories), then import again."),
    "currency_unreadable": ("Could not read Forecast's company currency: {error}",
                            f"Nothing was imported. {TRY_LATER}"),
    "no_company_currency": ("Forecast did not say which currency it keeps costs in, so nothing was imported.", None),
}
REASONS = {  # Outcome reason code: why, formatted with the outcome's data
    "organisation_gone": "its organisation is no longer connected",
    "another_import_running": "another import of this {noun} is running",
    "forecast_refused": "{error}",
    "client_gone": "that Forecast client no longer exists",
    "contact_gone": "it is no longer a customer in Xero (run the import again to refresh the list)",
    "no_name": "a contact with no name cannot become a Forecast client",
    "already_linked": "already linked to Forecast client {client_name}",
    "client_taken": "Forecast client {client_name} is already linked to another contact of this organisation",
    "client": "Forecast client {client_name} (id {client_id})",
    "order_gone": "it is no longer in Xero's list (run the import again to refresh it)",
    "no_total": "it has no total in Xero",
    "not_base_currency": ("it is in {currency} and Forecast keeps costs in {company_currency}; Xero's exchange rate "
                          "converts only to the organisation's base currency ({base_currency}), so it was not "
                          "imported rather than stored as the wrong currency"),
    "no_rate": "it is in {currency} and Xero gives no exchange rate to {company_currency} for it",
    "already_imported": "already imported as expense item {expense_item_id} in project {project}",
    "project_gone": "the Forecast project no longer exists",
    "expense_item": "expense item {expense_item_id} in {project}",
}
SIMILAR_LINK_ACTION = "import_similar_link"
SIMILAR_CREATE_ACTION = "import_similar_create"


# Small pieces --------------------------------------------------------------------------


def option(text: str, value: str) -> dict:
    return {"text": plain(_clip(text, MAX_OPTION_TEXT)), "value": value}


def option_groups(groups: Iterable[tuple[str, list[dict]]]) -> list[dict]:
    """Groups in order, none empty, at most 100 options in all."""
    result, room = [], MAX_OPTIONS
    for label, options in groups:
        options = options[:room]
        if options:
            result.append({"label": plain(_clip(label, MAX_OPTION_TEXT)), "options": options})
            room -= len(options)
    return result


def pair_value(tenant_id: str, record_id: str) -> str:
    return f"{tenant_id}{VALUE_SEPARATOR}{record_id}"


def split_value(value: str) -> tuple[str, str]:
    tenant_id, _, record_id = value.partition(VALUE_SEPARATOR)
    return tenant_id, record_id


def modal(title: str, callback_id: str, blocks: list[Block], *, submit: str | None = None,
          metadata: str = "") -> dict:
    view = {"type": "modal", "callback_id": callback_id, "title": plain(title[:24]), "close": plain("Close"),
            "blocks": fit_blocks(blocks, MAX_VIEW_BLOCKS), "private_metadata": metadata}
    if submit:
        view["submit"] = plain(submit)
    return view


def fit_blocks(blocks: list[Block], limit: int) -> list[Block]:
    """Keep the first blocks and say how many did not fit."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return kept + [context(f"… {len(blocks) - len(kept)} more lines are not shown (Slack shows {limit} at most).")]


def packed_sections(lines: list[str], per_section: int = 10) -> list[Block]:
    """Lines grouped into sections, each under Slack's 3,000 characters."""
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and (len(chunk) == per_section or len("\n".join(chunk + [line])) > MAX_TEXT):
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line[:MAX_TEXT])
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def counted(count: int, noun: str) -> str:
    """'1 customer', '2 customers', '1,000 purchase orders'."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def organisation_lines(organisations: list[OrganisationStatus], noun: str) -> list[Block]:
    """One line per organisation (`noun` in the singular); an unavailable one says why, and from when its list dates."""
    lines = []
    for org in organisations:
        name = f"*{escape(org.name)}*"
        if org.available:
            linked = f", {org.linked:,} already linked" if org.linked else ""
            lines.append(f":white_check_mark: {name}: {counted(org.count, noun)}{linked}")
        else:
            since = (f" Showing the {noun}s read on {slack_date(org.fetched_at)}." if org.fetched_at
                     else f" None of its {noun}s are shown.")
            why = error_words(org.error) if org.error else "unknown error"
            lines.append(f":warning: {name} is unavailable: {escape(why)}.{since}")
    return [context(*lines[i:i + 10]) for i in range(0, len(lines), 10)]


# Loading and problems ---------------------------------------------------------------------


def loading_view(title: str, callback_id: str, what: str) -> dict:
    return modal(title, callback_id, [
        section(f":hourglass_flowing_sand: Loading {what} from every connected Xero organisation…"),
        context("Large organisations can take a few seconds."),
    ])


def problem_words(problem: ImportProblem) -> tuple[str, str | None]:
    text, hint = PROBLEMS.get(problem.code, ("Nothing can be imported right now.", TRY_LATER))
    return text.format(error=error_words(problem.error) if problem.error else ""), hint


def problem_message(problem: ImportProblem) -> dict:
    return error_message(*problem_words(problem))


def forecast_unreadable(error: Exception) -> dict:
    return error_message(f"Forecast could not be read: {error_words(error)}", "Nothing was imported. Try again later.")


def problem_view(title: str, callback_id: str, problem: ImportProblem) -> dict:
    text, hint = problem_words(problem)
    blocks = [section(f":warning: {escape(text)}")]
    if hint:
        blocks.append(context(hint))
    return modal(title, callback_id, blocks)


# Customers ---------------------------------------------------------------------------------


def customers_modal(organisations: list[OrganisationStatus], metadata: str = "") -> dict:
    total = sum(org.count for org in organisations)
    blocks = [
        section("Pick the Xero customers to import as Forecast clients. A Forecast client with the same name "
                "is linked instead of duplicated."),
        {
            "type": "input",
            "block_id": CUSTOMERS_BLOCK,
            "label": plain("Customers"),
            "hint": plain("Type part of a name to search all organisations."),
            "element": {
                "type": "multi_external_select",
                "action_id": CUSTOMERS_ACTION,
                "placeholder": plain(f"Search {counted(total, 'customer')}"),
                "min_query_length": 0,
                "max_selected_items": MAX_OPTIONS,
            },
        },
        divider(),
        *organisation_lines(organisations, "customer"),
    ]
    return modal(CUSTOMERS_TITLE, CUSTOMERS_CALLBACK, blocks, submit="Import", metadata=metadata)


def customer_options(choices) -> dict:
    """Answer to the search box: customers grouped by organisation; linked ones say so.

    A picked option shows only its text, so a name found in several organisations also names its organisation.
    """
    choices = list(choices)
    organisations_by_name: dict[str, set[str]] = {}
    for choice in choices:
        organisations_by_name.setdefault((choice.name or "").casefold(), set()).add(choice.tenant_id)
    groups: dict[str, list[dict]] = {}
    for choice in choices:
        label = choice.name or "(no name)"
        if len(organisations_by_name[(choice.name or "").casefold()]) > 1:
            label = f"{_clip(label, 40)} · {choice.organisation}"
        if choice.linked:
            label = f"{_clip(label, 55)} (already linked)"
        groups.setdefault(choice.organisation, []).append(option(label, pair_value(choice.tenant_id,
                                                                                   choice.contact_id)))
    if not groups:
        return {"options": []}
    return {"option_groups": option_groups(groups.items())}


def import_gave_up() -> dict:
    """An import that failed on our side every time it was tried."""
    return error_message("The import failed on our side, several times.",
                         "Run it again: what was already imported is linked, not created twice.")


def customer_summary(summary: ImportSummary) -> dict:
    similar = [o for o in summary.outcomes if o.result == "similar"]
    results = ("created", "linked") + (("similar",) if similar else ()) + ("skipped", "failed")
    payload = summary_message("Customer import", summary, results, noun="contact")
    for outcome in similar[:10]:
        payload["blocks"] += _similar_choice(outcome)
    payload["blocks"] = fit_blocks(payload["blocks"], MAX_MESSAGE_BLOCKS)
    return payload


def _similar_choice(outcome) -> list[Block]:
    contact = {"t": outcome.tenant_id, "c": outcome.record_id}
    link = button(_clip(f"Link to {outcome.similar_client_name}", 75), SIMILAR_LINK_ACTION,
                  json.dumps({**contact, "f": outcome.similar_client_id}), style="primary")
    create = button("Create a new client", SIMILAR_CREATE_ACTION, json.dumps(contact))
    return [section(f"*{escape(outcome.label)}* ({escape(outcome.organisation)}) looks like the Forecast client "
                    f"*{escape(outcome.similar_client_name or '')}*. Link it to that client, or create a new one?"),
            actions(link, create)]


def similar_choice_value(value: str) -> tuple[str, str, int | None] | None:
    """(tenant id, contact id, Forecast client id or None) from a Link / Create button; None if not one."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    tenant_id, contact_id, client_id = data.get("t"), data.get("c"), data.get("f")
    if not (isinstance(tenant_id, str) and isinstance(contact_id, str)):
        return None
    if client_id is not None and (isinstance(client_id, bool) or not isinstance(client_id, int)):
        return None
    return tenant_id, contact_id, client_id


# Purchase orders ------------------------------------------------------------------------------


def status_option(status: str) -> dict:
    return option(STATUS_LABELS.get(status, status.title()), status)


def po_modal(listing: PurchaseOrderListing, projects, *, selected_project: str | None = None,
             metadata: str = "") -> dict:
    blocks = [_status_filter(listing.statuses), _project_picker(projects, selected_project)]
    if listing.orders:
        blocks.append(_order_picker(listing.orders))
    else:
        blocks.append(section("No purchase order has one of these statuses. Change the status filter above."))
    blocks.append(divider())
    blocks += organisation_lines(listing.organisations, "purchase order")
    if listing.matching > len(listing.orders):
        blocks.append(context(f"Showing the newest {len(listing.orders)} of {listing.matching:,} purchase orders; "
                              "narrow the status filter to see others."))
    blocks += packed_sections([order_line(o) for o in listing.orders])
    return modal(PO_TITLE, PO_CALLBACK, blocks, submit="Import", metadata=metadata)


def _status_filter(statuses: list[str]) -> Block:
    element = {"type": "multi_static_select", "action_id": PO_STATUS_ACTION, "placeholder": plain("Statuses"),
               "options": [status_option(s) for s in ALL_STATUSES]}
    if statuses:
        element["initial_options"] = [status_option(s) for s in statuses]
    return {"type": "input", "block_id": PO_STATUS_BLOCK, "dispatch_action": True, "optional": True,
            "label": plain("Status"), "element": element}


def _project_picker(projects, selected_project: str | None) -> Block:
    options = [option(f"{p.display_id} {p.name}", str(p.id)) for p in projects]
    element: dict = {"type": "static_select", "action_id": PO_PROJECT_ACTION,
                     "placeholder": plain("Forecast project")}
    if len(options) <= MAX_OPTIONS:
        element["options"] = options
    else:
        element["option_groups"] = _project_groups(projects)
    offered = {o["value"]: o for group in element.get("option_groups", [{"options": options}])
               for o in group["options"]}
    if selected_project in offered:
        element["initial_option"] = offered[selected_project]
    if not options:
        return section(":warning: Forecast has no project yet. Create one in Forecast, then import again.")
    return {"type": "input", "block_id": PO_PROJECT_BLOCK, "label": plain("Import into Forecast project"),
            "element": element}


def _project_groups(projects) -> list[dict]:
    """More than 100 projects: up to 100 per stage (Slack allows 100 per group), running ones first."""
    stages = ["RUNNING", "PLANNING", "HALTED", "DONE"]
    grouped: dict[str, list[dict]] = {}
    for p in sorted(projects, key=lambda p: stages.index(p.stage) if p.stage in stages else len(stages)):
        grouped.setdefault((p.stage or "other").title(), []).append(option(f"{p.display_id} {p.name}", str(p.id)))
    return [{"label": plain(label), "options": options[:MAX_OPTIONS]} for label, options in grouped.items()]


def _order_picker(orders: list[PurchaseOrderRow]) -> Block:
    groups: dict[str, list[dict]] = {}
    for order in orders:
        done = " (imported)" if order.imported else ""
        text = f"{order.number} · {_clip(order.supplier, 30)} · {money(order)}{done}"
        groups.setdefault(order.organisation, []).append(option(text, pair_value(order.tenant_id,
                                                                                  order.purchase_order_id)))
    return {"type": "input", "block_id": PO_PICK_BLOCK, "label": plain("Purchase orders"),
            "element": {"type": "multi_static_select", "action_id": PO_PICK_ACTION,
                        "placeholder": plain("Pick purchase orders"), "option_groups": option_groups(groups.items())}}


def money(order: PurchaseOrderRow) -> str:
    amount = f"{order.total:,.2f}" if order.total is not None else "?"
    return f"{order.currency} {amount}".strip()


def order_line(order: PurchaseOrderRow) -> str:
    when = order.date.isoformat() if order.date else "no date"
    line = (f"*{escape(order.number)}* · {escape(order.supplier or 'no supplier')} · {when} · {money(order)} · "
            f"{STATUS_LABELS.get(order.status, order.status)} · _{escape(order.organisation)}_")
    if order.imported:
        details = order.imported.details or {}
        line += (f"\n      :link: imported as expense item {details.get('expense_item_id')} in "
                 f"{escape(str(details.get('project_display_id', '')))} {escape(details.get('project_name', ''))}")
    return line


def po_summary(summary: ImportSummary) -> dict:
    title = f"Purchase order import into {summary.destination}" if summary.destination else "Purchase order import"
    return summary_message(title, summary, ("created", "skipped", "failed"), noun="purchase order")


# Summaries -------------------------------------------------------------------------------------


def summary_message(title: str, summary: ImportSummary, results: tuple[str, ...], noun: str = "item") -> dict:
    counts = summary.counts
    totals = ", ".join(f"{counts.get(r, 0)} {r}" for r in results)
    blocks: list[Block] = [header(title), section(f"*{totals}*")]
    for result in results:
        outcomes = [o for o in summary.outcomes if o.result == result]
        if not outcomes:
            continue
        lines = [f"• *{escape(o.label)}* ({escape(o.organisation)})" + _reason(o, noun) for o in outcomes]
        blocks.append(section(f"*{RESULT_LABELS[result]}*"))
        blocks += packed_sections(lines, per_section=20)
    return message(f"{title}: {totals}", fit_blocks(blocks, MAX_MESSAGE_BLOCKS))


def _reason(outcome: Outcome, noun: str) -> str:
    if outcome.result == "similar":
        return f": looks like *{escape(outcome.similar_client_name or '')}*"
    return f": {escape(reason_words(outcome, noun))}" if outcome.reason else ""


def reason_words(outcome: Outcome, noun: str = "item") -> str:
    """Why one item was skipped or failed, or what it became; an unknown code is shown as it is."""
    data = dict(outcome.data)
    if "error" in data:
        data["error"] = error_words(data["error"])
    if outcome.reason == "already_linked" and not data.get("client_name"):
        data["client_name"] = f"id {data.get('client_id')}"
    if outcome.reason == "not_base_currency":
        data["base_currency"] = data.get("base_currency") or "unknown"
    words = REASONS.get(outcome.reason)
    return words.format(noun=noun, **data).strip() if words else outcome.reason


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

