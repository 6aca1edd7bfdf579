"""The browse page's bookkeeping forms: approve, record or remove a payment, void, edit a contact; a credit
note or an overpayment applied to an invoice, an allocation removed, a credit note voided.

Each change is saved, then sent to the bot as a signed webhook (as Xero does within seconds)."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from aiohttp import web

from . import bookkeeping, credits
from .demo_data import stable_id
from .keys import PUBLIC_BASE_URL, WEBHOOKS, XERO_STATE
from .query import public
from .state import XeroState
from .webhooks import WebhookSender


def _page(request: web.Request, anchor: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{request.app[PUBLIC_BASE_URL]}/#{anchor}")


async def _apply(request: web.Request, change, anchor: str) -> web.StreamResponse:
    from .pages import _document, html_response

    try:
        events = change(request.app[XERO_STATE], await request.post())
    except bookkeeping.BookkeepingError as refused:
        body = (f"<section><p class='error' id='bookkeeping-error'>{escape(str(refused))}</p>"
                f"<p><a href='{escape(request.app[PUBLIC_BASE_URL])}/'>Back</a></p></section>")
        return html_response(_document("Xero sandbox", body), status=400)
    events = events if isinstance(events, list) else [events]
    if events:  # an overpayment received but not yet allocated changes nothing Xero tells apps about
        await request.app[WEBHOOKS].send(events)
    return _page(request, anchor)


async def approve_invoice(request: web.Request) -> web.StreamResponse:
    tenant, invoice = request.match_info["tenant"], request.match_info["invoice"]
    return await _apply(request, lambda state, form: bookkeeping.approve(state, tenant, invoice), f"invoice-{invoice}")


async def record_payment(request: web.Request) -> web.StreamResponse:
    tenant, invoice = request.match_info["tenant"], request.match_info["invoice"]
    today = datetime.now(timezone.utc).date().isoformat()
    return await _apply(request, lambda state, form: bookkeeping.record_payment(
        state, tenant, invoice, str(form.get("amount", "")).strip(), str(form.get("date") or today)),
        f"invoice-{invoice}")


async def remove_payment(request: web.Request) -> web.StreamResponse:
    tenant, invoice = request.match_info["tenant"], request.match_info["invoice"]
    return await _apply(request, lambda state, form: bookkeeping.remove_payment(
        state, tenant, invoice, str(form.get("payment_id", ""))), f"invoice-{invoice}")


async def void_invoice(request: web.Request) -> web.StreamResponse:
    tenant, invoice = request.match_info["tenant"], request.match_info["invoice"]
    return await _apply(request, lambda state, form: bookkeeping.void(state, tenant, invoice), f"invoice-{invoice}")


async def edit_contact(request: web.Request) -> web.StreamResponse:
    tenant, contact = request.match_info["tenant"], request.match_info["contact"]
    return await _apply(request, lambda state, form: bookkeeping.edit_contact(
        state, tenant, contact, name=str(form.get("name", "")), tax_number=str(form.get("tax_number", "")),
        street=str(form.get("street", "")), city=str(form.get("city", "")),
        postal_code=str(form.get("postal_code", ""))), f"contact-{contact}")


async def apply_credit(request: web.Request) -> web.StreamResponse:
    """A new credit note (or overpayment, prepayment) for the invoice's customer, applied to the invoice."""
    tenant, invoice = request.match_info["tenant"], request.match_info["invoice"]

    def change(state: XeroState, form) -> list[dict]:
        kind = str(form.get("kind") or "credit_note")
        if kind not in credits.KINDS:
            raise bookkeeping.BookkeepingError("Choose a credit note, an overpayment or a prepayment.")
        target = bookkeeping._invoice(state, tenant, invoice)
        amount, on = str(form.get("amount", "")).strip(), str(form.get("date") or _today())
        credits.check_applicable(target, amount)  # before anything is made
        document_id, made = credits.create(state, tenant, kind, target["Contact"]["ContactID"], amount, on,
                                           target.get("CurrencyCode"))
        return made + credits.allocate(state, tenant, kind, document_id, invoice, amount, on)

    return await _apply(request, change, f"invoice-{invoice}")


async def allocate_credit(request: web.Request) -> web.StreamResponse:
    tenant, kind, document = request.match_info["tenant"], request.match_info["kind"], request.match_info["id"]

    def change(state: XeroState, form) -> list[dict]:
        number = str(form.get("invoice_number", "")).strip()
        target = next((i for i in state.invoices(tenant) if i.get("InvoiceNumber") == number), None)
        if target is None:
            raise bookkeeping.BookkeepingError(f"No invoice {number} in this organisation.")
        return credits.allocate(state, tenant, _kind(kind), document, target["InvoiceID"],
                                str(form.get("amount", "")).strip(), str(form.get("date") or _today()))

    return await _apply(request, change, f"credit-{document}")


async def remove_allocation(request: web.Request) -> web.StreamResponse:
    tenant, kind, document = request.match_info["tenant"], request.match_info["kind"], request.match_info["id"]
    return await _apply(request, lambda state, form: credits.remove_allocation(
        state, tenant, _kind(kind), document, str(form.get("allocation_id", ""))), f"credit-{document}")


async def void_credit_note(request: web.Request) -> web.StreamResponse:
    tenant, document = request.match_info["tenant"], request.match_info["id"]
    return await _apply(request, lambda state, form: credits.void(state, tenant, document), f"credit-{document}")


def _kind(kind: str) -> str:
    if kind not in credits.KINDS:
        raise bookkeeping.BookkeepingError("No such kind of credit.")
    return kind


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def add_routes(app: web.Application) -> None:
    invoice = "/invoices/{tenant}/{invoice}"
    app.router.add_post(invoice + "/approve", approve_invoice)
    app.router.add_post(invoice + "/payments", record_payment)
    app.router.add_post(invoice + "/payments/remove", remove_payment)
    app.router.add_post(invoice + "/void", void_invoice)
    app.router.add_post("/contacts/{tenant}/{contact}", edit_contact)
    app.router.add_post(invoice + "/credits", apply_credit)
    credit = "/credits/{tenant}/{kind}/{id}"
    app.router.add_post(credit + "/allocations", allocate_credit)
    app.router.add_post(credit + "/allocations/remove", remove_allocation)
    app.router.add_post(credit + "/void", void_credit_note)


# The browse page's section ---------------------------------------------------------------------
def bookkeeping_section(state: XeroState, base: str, webhooks: WebhookSender) -> str:
    rows, contacts = [], []
    for org in state.organisations.values():
        exported = [i for i in org["Invoices"].values() if i.get("Type") == "ACCREC"
                    and i["InvoiceID"] != stable_id("invoice", org["TenantID"], i.get("InvoiceNumber") or "")]
        for invoice in sorted(exported, key=lambda i: i.get("_created", 0), reverse=True):
            rows.append(_invoice_row(org, invoice, base))
        contact_ids = dict.fromkeys(i["Contact"]["ContactID"] for i in exported)
        contacts += [_contact_form(org, org["Contacts"][c], base) for c in contact_ids if c in org["Contacts"]]
    invoices = "".join(rows) or "<tr><td colspan='4' class='muted'>No invoice has been exported yet.</td></tr>"
    contacts = "".join(contacts)
    credit_rows = "".join(_credit_row(org, kind, document, base) for org in state.organisations.values()
                          for kind in credits.KINDS for document in credits.documents(org, kind).values())
    deliveries = "".join(f"<li>{_time(d.at)}: {d.events} event(s) → {escape(str(d.status))}</li>"
                         for d in reversed(webhooks.deliveries)) or "<li class='muted'>none yet</li>"
    return f"""
<section id="bookkeeping">
  <h2>Bookkeeping (what flows back to the bot)</h2>
  <p class="muted">Webhooks to the bot: <span id="webhook-status">{escape(_webhook_words(webhooks))}</span></p>
  <table id="bookkeeping-invoices"><tr><th>Invoice</th><th>Status</th><th>Payments</th><th>Do</th></tr>
  {invoices}</table>
  <h3>Credit notes, overpayments and prepayments</h3>
  <table id="bookkeeping-credits"><tr><th>Credit</th><th>Status</th><th>Allocations</th><th>Do</th></tr>
  {credit_rows or "<tr><td colspan='4' class='muted'>none yet: apply one to an invoice above</td></tr>"}</table>
  <h3>Contacts of exported invoices</h3>{contacts or "<p class='muted'>none yet</p>"}
  <h3>Webhook deliveries</h3><ul id="webhook-deliveries">{deliveries}</ul>
</section>"""


def _invoice_row(org: dict, invoice: dict, base: str) -> str:
    shown = public(invoice, org)
    action = f"{escape(base)}/invoices/{org['TenantID']}/{invoice['InvoiceID']}"
    number = escape(str(shown.get("InvoiceNumber") or ""))
    payments = "".join(
        f"<li data-payment-id='{p['PaymentID']}'>{p['Amount']:.2f} on {escape(str(p['Date']))} "
        f"<form method='post' action='{action}/payments/remove' style='display:inline'>"
        f"<input type='hidden' name='payment_id' value='{p['PaymentID']}'>"
        f"<button class='secondary remove-payment'>Remove payment</button></form></li>"
        for p in invoice.get("Payments", []))
    status = invoice["Status"]
    buttons = []
    if status in ("DRAFT", "SUBMITTED"):
        buttons.append(f"<form method='post' action='{action}/approve'><button class='primary approve'>Approve"
                       f"</button></form>")
    if status == "AUTHORISED":
        due = invoice.get("AmountDue", invoice["Total"])
        buttons.append(f"<form method='post' action='{action}/payments' class='record-payment'>"
                       f"<input name='amount' value='{due:.2f}' size='8'> <input name='date' type='date'> "
                       f"<button class='primary record'>Record payment</button></form>")
    if status == "AUTHORISED":
        buttons.append(f"<form method='post' action='{action}/credits' class='apply-credit'>"
                       f"<select name='kind'><option value='credit_note'>Credit note</option>"
                       f"<option value='overpayment'>Overpayment</option>"
                       f"<option value='prepayment'>Prepayment</option></select> "
                       f"<input name='amount' value='' size='8' placeholder='amount'> "
                       f"<button class='secondary credit'>Apply credit</button></form>")
    credited = any(invoice.get(key) for key in bookkeeping.CREDIT_ARRAYS)
    if status in ("DRAFT", "SUBMITTED", "AUTHORISED") and not invoice.get("Payments") and not credited:
        buttons.append(f"<form method='post' action='{action}/void'>"
                       "<button class='secondary void'>Void</button></form>")
    paid = invoice.get("AmountPaid", 0)
    payments += "".join(
        f"<li class='credit'>{escape(str(c.get('CreditNoteNumber') or array[:-1]))} {c['AppliedAmount']:.2f} "
        f"credited on {escape(str(c['Date']))}</li>"
        for array in bookkeeping.CREDIT_ARRAYS for c in invoice.get(array, []))
    return (f"<tr data-invoice-number='{number}' data-tenant-id='{org['TenantID']}'>"
            f"<td>{number}<br><span class='muted'>{escape(org['Name'])} · {invoice['Total']:.2f} "
            f"{escape(invoice['CurrencyCode'])}</span></td><td class='status'>{escape(status)}<br>"
            f"<span class='muted'>paid {paid:.2f}</span></td><td><ul>{payments}</ul></td>"
            f"<td>{''.join(buttons)}</td></tr>")


def _credit_row(org: dict, kind: str, document: dict, base: str) -> str:
    _, id_field, _, _ = credits.KINDS[kind]
    document_id = document[id_field]
    action = f"{escape(base)}/credits/{org['TenantID']}/{kind}/{document_id}"
    name = escape(str(document.get("CreditNoteNumber") or kind.capitalize()))
    allocations = "".join(
        f"<li data-allocation-id='{a['AllocationID']}'>{escape(str(a['Invoice'].get('InvoiceNumber')))} "
        f"{a['Amount']:.2f} on {escape(str(a['Date']))} "
        f"<form method='post' action='{action}/allocations/remove' style='display:inline'>"
        f"<input type='hidden' name='allocation_id' value='{a['AllocationID']}'>"
        f"<button class='secondary remove-allocation'>Remove allocation</button></form></li>"
        for a in document["Allocations"])
    buttons = []
    if document["Status"] == "AUTHORISED" and document["RemainingCredit"] > 0:
        buttons.append(f"<form method='post' action='{action}/allocations' class='allocate'>"
                       f"<input name='invoice_number' size='8' placeholder='INV-101'> "
                       f"<input name='amount' value='{document['RemainingCredit']:.2f}' size='8'> "
                       f"<button class='secondary allocate'>Allocate</button></form>")
    if kind == "credit_note" and document["Status"] not in ("VOIDED", "DELETED"):
        buttons.append(f"<form method='post' action='{action}/void'>"
                       f"<button class='secondary void-credit'>Void credit note</button></form>")
    return (f"<tr id='credit-{document_id}' data-credit-number='{name}'><td>{name}<br><span class='muted'>"
            f"{escape(org['Name'])} · {document['Total']:.2f} {escape(document['CurrencyCode'])} · remaining "
            f"{document['RemainingCredit']:.2f}</span></td><td class='status'>{escape(document['Status'])}</td>"
            f"<td><ul>{allocations}</ul></td><td>{''.join(buttons)}</td></tr>")


def _contact_form(org: dict, contact: dict, base: str) -> str:
    street = next((a for a in contact.get("Addresses", []) if a.get("AddressType") == "STREET"), {})
    action = f"{escape(base)}/contacts/{org['TenantID']}/{contact['ContactID']}"

    def field(name: str, label: str, value: str | None, size: int = 18) -> str:
        return (f"<label style='display:inline'>{label} "
                f"<input name='{name}' value='{escape(value or '')}' size='{size}'></label> ")

    return (f"<form method='post' action='{action}' class='edit-contact' id='contact-{contact['ContactID']}' "
            f"data-contact-name='{escape(contact['Name'])}'><span class='muted'>{escape(org['Name'])}</span> "
            f"{field('name', 'Name', contact['Name'], 24)}"
            f"{field('tax_number', 'Tax number', contact.get('TaxNumber'), 14)}"
            f"{field('street', 'Street', street.get('AddressLine1'))}{field('city', 'City', street.get('City'), 10)}"
            f"{field('postal_code', 'Post code', street.get('PostalCode'), 8)}"
            f"<button class='secondary save-contact'>Edit contact</button></form>")


def _webhook_words(webhooks: WebhookSender) -> str:
    if not webhooks.enabled:
        return "off (the bot has no webhook key)"
    return f"{webhooks.url} · intent to receive: {webhooks.intent}"


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")
