"""The browse page's bookkeeping forms: approve, record or remove a payment, void, edit a contact.

Each change is saved, then sent to the bot as a signed webhook (as Xero does within seconds)."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from aiohttp import web

from . import bookkeeping
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
        event = change(request.app[XERO_STATE], await request.post())
    except bookkeeping.BookkeepingError as refused:
        body = (f"<section><p class='error' id='bookkeeping-error'>{escape(str(refused))}</p>"
                f"<p><a href='{escape(request.app[PUBLIC_BASE_URL])}/'>Back</a></p></section>")
        return html_response(_document("Xero sandbox", body), status=400)
    await request.app[WEBHOOKS].send([event])
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


def add_routes(app: web.Application) -> None:
    invoice = "/invoices/{tenant}/{invoice}"
    app.router.add_post(invoice + "/approve", approve_invoice)
    app.router.add_post(invoice + "/payments", record_payment)
    app.router.add_post(invoice + "/payments/remove", remove_payment)
    app.router.add_post(invoice + "/void", void_invoice)
    app.router.add_post("/contacts/{tenant}/{contact}", edit_contact)


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
    deliveries = "".join(f"<li>{_time(d.at)}: {d.events} event(s) → {escape(str(d.status))}</li>"
                         for d in reversed(webhooks.deliveries)) or "<li class='muted'>none yet</li>"
    return f"""
<section id="bookkeeping">
  <h2>Bookkeeping (what flows back to the bot)</h2>
  <p class="muted">Webhooks to the bot: <span id="webhook-status">{escape(_webhook_words(webhooks))}</span></p>
  <table id="bookkeeping-invoices"><tr><th>Invoice</th><th>Status</th><th>Payments</th><th>Do</th></tr>
  {invoices}</table>
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
    if status in ("DRAFT", "SUBMITTED", "AUTHORISED") and not invoice.get("Payments"):
        buttons.append(f"<form method='post' action='{action}/void'>"
                       "<button class='secondary void'>Void</button></form>")
    paid = invoice.get("AmountPaid", 0)
    return (f"<tr data-invoice-number='{number}' data-tenant-id='{org['TenantID']}'>"
            f"<td>{number}<br><span class='muted'>{escape(org['Name'])} · {invoice['Total']:.2f} "
            f"{escape(invoice['CurrencyCode'])}</span></td><td class='status'>{escape(status)}<br>"
            f"<span class='muted'>paid {paid:.2f}</span></td><td><ul>{payments}</ul></td>"
            f"<td>{''.join(buttons)}</td></tr>")


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
