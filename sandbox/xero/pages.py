"""HTML pages: Xero's login+consent screen, and the browse page with the fault-injection form."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from aiohttp import web

from .keys import PUBLIC_BASE_URL, WEBHOOKS, XERO_STATE
from .query import public
from .state import FaultKind, XeroState

SCOPE_WORDS = {
    "openid": "Confirm who you are",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using the app",
    "accounting.transactions": "View and manage your invoices, bills and purchase orders",
    "accounting.transactions.read": "View your invoices, bills and purchase orders",
    "accounting.invoices": "View and manage your invoices and purchase orders",
    "accounting.invoices.read": "View your invoices and purchase orders",
    "accounting.contacts": "View and manage your contacts",
    "accounting.contacts.read": "View your contacts",
    "accounting.settings": "View and manage your organisation settings, accounts and tax rates",
    "accounting.settings.read": "View your organisation settings, accounts and tax rates",
}

FAULT_LABELS = {  # the first is the form's default: a failure that reaches #finance-alerts at once
    FaultKind.VALIDATION: "400 Validation error",
    FaultKind.UNAVAILABLE: "503 Service Unavailable (the bot retries: fail 5 calls to see it give up)",
    FaultKind.RATE_LIMITED: "429 Too Many Requests (rate limit)",
    FaultKind.DISCONNECT: "Disconnect the organisation (403)",
}

STYLE = """
tr:target{background:#fff3bf;outline:2px solid #f0b400}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f4f6f8;color:#1e2a36}
header{background:#13b5ea;color:#fff;padding:14px 24px;font-size:20px;font-weight:600}
main{max-width:1100px;margin:24px auto;padding:0 16px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin-bottom:20px;box-shadow:0 1px 3px #0002}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e8ee}
th{background:#f8fafc}
.muted{color:#66788a;font-size:13px}
.error{color:#b00020;font-weight:600}
button{font-size:15px;padding:8px 18px;border-radius:4px;border:1px solid #13b5ea;cursor:pointer}
.primary{background:#13b5ea;color:#fff}
.secondary{background:#fff;color:#13b5ea}
label{display:block;margin:6px 0}
.status{font-weight:600}
"""


def html_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


def _document(title: str, content: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><header>xero <span class='muted' style='color:#e6f7fd'>"
            f"sandbox</span></header><main>{content}</main></body></html>")


def _when(epoch_seconds: float | None) -> str:
    if epoch_seconds is None:
        return ""
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# Consent ----------------------------------------------------------------------------------------------
def consent_page(app: web.Application, params: dict[str, str], *, error: str | None = None) -> str:
    state: XeroState = app[XERO_STATE]
    action = f"{app[PUBLIC_BASE_URL]}/identity/connect/authorize"
    hidden = "".join(
        f"<input type='hidden' name='{escape(name)}' value='{escape(value)}'>" for name, value in params.items()
    )
    organisations = "".join(
        f"<label><input type='checkbox' name='tenant' id='tenant-{escape(org['Short'])}' "
        f"value='{escape(org['TenantID'])}'{' checked' if index < 2 else ''}> "
        f"{escape(org['Name'])} <span class='muted'>({escape(org['BaseCurrency'])})</span></label>"
        for index, org in enumerate(state.organisations.values())
    )
    scopes = "".join(
        f"<li data-scope='{escape(s)}'>{escape(SCOPE_WORDS.get(s, s))}</li>" for s in params["scope"].split()
    )
    problem = f"<p class='error' id='consent-error'>{escape(error)}</p>" if error else ""
    content = f"""
<section id="login">
  <h1>Log in to Xero</h1>
  <p>Signed in as <strong id="signed-in-user">demo.finance@example.com</strong>
  <span class="muted">(sandbox: no password needed)</span></p>
</section>
<section id="consent">
  <h2>Ledgerline wants to access your Xero organisations</h2>
  {problem}
  <form method="post" action="{escape(action)}" id="consent-form">
    {hidden}
    <h3>Organisations</h3>
    <div id="organisations">{organisations}</div>
    <h3>The app will be able to</h3>
    <ul id="scopes">{scopes}</ul>
    <button type="submit" class="primary" id="allow-access" name="decision" value="allow">Allow access</button>
    <button type="submit" class="secondary" id="cancel" name="decision" value="cancel">Cancel</button>
  </form>
</section>"""
    return _document("Xero | Authorise app", content)


def consent_error_page(message: str) -> str:
    return _document("Xero | Error", f"<section><h1>Sorry, something went wrong</h1>"
                                      f"<p class='error' id='consent-error'>{escape(message)}</p></section>")


# Browse ------------------------------------------------------------------------------------------------
async def open_invoice(request: web.Request) -> web.Response:
    """Where the bot's "Open in Xero" links land in the sandbox: the invoice's row, highlighted."""
    raise web.HTTPFound(f"../../#invoice-{escape(request.query.get('InvoiceID', ''))}")


async def browse_page(request: web.Request) -> web.Response:
    from .actions import bookkeeping_section

    state: XeroState = request.app[XERO_STATE]
    base = request.app[PUBLIC_BASE_URL]
    content = "".join([
        _intro(state),
        _fault_section(state, base),
        _organisations_section(state),
        _invoices_section(state),
        bookkeeping_section(state, base, request.app[WEBHOOKS]),
        _purchase_orders_section(state),
        _connections_section(state),
        _api_calls_section(state),
    ])
    return html_response(_document("Xero sandbox", content))


def _intro(state: XeroState) -> str:
    return (f"<section id='summary'><h1>Xero sandbox</h1><p class='muted'>A stand-in for Xero. "
            f"Token endpoint calls: <span id='token-calls'>{state.token_calls}</span>. "
            f"Spec violations: <span id='spec-violations'>{len(state.spec_violations)}</span>.</p></section>")


def _options(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<option value='{escape(v)}'>{escape(label)}</option>" for v, label in pairs)


def _fault_section(state: XeroState, base: str) -> str:
    kinds = _options([(k.value, label) for k, label in FAULT_LABELS.items()])
    resources = _options([("Invoices", "Invoices"), ("", "any call"), ("Contacts", "Contacts"),
                          ("PurchaseOrders", "Purchase orders"), ("Organisation", "Organisation")])
    methods = _options([("CREATE", "creates (PUT/POST): the export itself"), ("", "any call (reads too)"),
                        ("GET", "reads (GET)")])
    tenants = _options([("", "any organisation")] + [(o["TenantID"], o["Name"]) for o in state.organisations.values()])
    pending = "".join(
        f"<li data-fault-kind='{f.kind.value}'>{escape(FAULT_LABELS[f.kind])} × {f.remaining}"
        f" on {escape(f.resource or 'any call')}"
        f"{' creates' if (f.method or '').upper() == 'CREATE' else ' reads' if f.method == 'GET' else ''}"
        f"{' for ' + escape(state.organisations[f.tenant_id]['Name']) if f.tenant_id in state.organisations else ''}"
        f"</li>"
        for f in state.faults
    ) or "<li class='muted'>none</li>"
    return f"""
<section id="faults">
  <h2>Make the next call fail</h2>
  <form method="post" action="{escape(base)}/faults" id="fault-form">
    <label>Fail the next <input type="number" name="count" value="1" min="1" max="100" style="width:4em">
      <select name="method">{methods}</select> to <select name="resource">{resources}</select>
      of <select name="tenant_id">{tenants}</select></label>
    <label>with <select name="kind" id="fault-kind">{kinds}</select></label>
    <label>Validation message <input type="text" name="message" size="50"
      value="Sandbox: this call was made to fail on purpose."></label>
    <button type="submit" class="primary" id="inject-fault" name="action" value="inject">Inject fault</button>
    <button type="submit" class="secondary" id="clear-faults" name="action" value="clear">Clear faults</button>
  </form>
  <h3>Pending faults</h3><ul id="pending-faults">{pending}</ul>
</section>"""


async def fault_form(request: web.Request) -> web.StreamResponse:
    state: XeroState = request.app[XERO_STATE]
    form = await request.post()
    if form.get("action") == "clear":
        state.clear_faults()
    else:
        try:
            kind = FaultKind(str(form.get("kind", "")))
            count = max(1, min(100, int(str(form.get("count", "1")) or 1)))
        except ValueError:
            return html_response(_document("Xero sandbox", "<p class='error'>Unknown fault.</p>"), status=400)
        state.inject_fault(
            kind, count,
            resource=str(form.get("resource") or "") or None,
            method=str(form.get("method") or "") or None,
            tenant_id=str(form.get("tenant_id") or "") or None,
            message=str(form.get("message") or "") or "Sandbox: this call was made to fail on purpose.",
        )
    raise web.HTTPSeeOther(f"{request.app[PUBLIC_BASE_URL]}/")


def _organisations_section(state: XeroState) -> str:
    parts = ["<section id='organisations'><h2>Organisations</h2>"]
    for org in state.organisations.values():
        contacts = sorted(org["Contacts"].values(), key=lambda c: c["Name"].lower())
        rows = "".join(
            f"<tr data-contact-name='{escape(c['Name'])}' data-contact-id='{c['ContactID']}'>"
            f"<td>{escape(c['Name'])}</td><td>{'customer' if c['IsCustomer'] else ''}"
            f"{' supplier' if c['IsSupplier'] else ''}</td><td>{escape(c.get('EmailAddress', ''))}</td>"
            f"<td>{_when(c.get('_updated'))}</td></tr>"
            for c in contacts[:50]
        )
        more = f"<p class='muted'>… and {len(contacts) - 50} more contacts</p>" if len(contacts) > 50 else ""
        currencies = ", ".join(c["Code"] for c in org["Currencies"])
        parts.append(
            f"<div class='org' id='org-{escape(org['Short'])}' data-tenant-id='{org['TenantID']}'>"
            f"<h3>{escape(org['Name'])} <span class='muted'>{escape(org['BaseCurrency'])} · currencies "
            f"{escape(currencies)} · tenant {org['TenantID']}</span></h3>"
            f"<table id='contacts-{escape(org['Short'])}'><tr><th>Contact</th><th>Kind</th><th>Email</th>"
            f"<th>Updated</th></tr>{rows}</table>{more}</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _invoices_section(state: XeroState) -> str:
    rows = []
    for org in state.organisations.values():
        for invoice in org["Invoices"].values():
            shown = public(invoice, org)
            rows.append((invoice.get("_created", 0), (
                f"<tr id='invoice-{shown['InvoiceID']}' "
                f"data-invoice-number='{escape(str(shown.get('InvoiceNumber') or ''))}' "
                f"data-invoice-id='{shown['InvoiceID']}' data-tenant-id='{org['TenantID']}'>"
                f"<td>{escape(str(shown.get('InvoiceNumber') or ''))}</td><td>{escape(org['Name'])}</td>"
                f"<td>{escape(shown['Contact']['Name'])}</td><td>{escape(shown['Type'])}</td>"
                f"<td class='total'>{shown['Total']:.2f} {escape(shown['CurrencyCode'])}</td>"
                f"<td class='status'>{escape(shown['Status'])}</td><td>{_when(invoice.get('_created'))}</td></tr>"
            )))
    body = "".join(row for _, row in sorted(rows, key=lambda r: r[0], reverse=True))
    return (f"<section><h2>Invoices</h2><table id='invoices'><tr><th>Number</th><th>Organisation</th>"
            f"<th>Contact</th><th>Type</th><th>Total</th><th>Status</th><th>Created</th></tr>{body}</table>"
            f"</section>")


def _purchase_orders_section(state: XeroState) -> str:
    rows = "".join(
        f"<tr data-purchase-order-number='{escape(po['PurchaseOrderNumber'])}' data-tenant-id='{org['TenantID']}'>"
        f"<td>{escape(po['PurchaseOrderNumber'])}</td><td>{escape(org['Name'])}</td>"
        f"<td>{escape(po['Contact']['Name'])}</td><td>{po['Total']:.2f} {escape(po['CurrencyCode'])}</td>"
        f"<td class='status'>{escape(po['Status'])}</td><td>{_when(po.get('_updated'))}</td></tr>"
        for org in state.organisations.values()
        for po in org["PurchaseOrders"].values()
    )
    return (f"<section><h2>Purchase orders</h2><table id='purchase-orders'><tr><th>Number</th>"
            f"<th>Organisation</th><th>Supplier</th><th>Total</th><th>Status</th><th>Updated</th></tr>{rows}"
            f"</table></section>")


def _connections_section(state: XeroState) -> str:
    rows = "".join(
        f"<tr data-connection-id='{c['id']}' data-tenant-id='{c['tenantId']}'>"
        f"<td>{escape(state.organisations[c['tenantId']]['Name'])}</td><td>{c['id']}</td>"
        f"<td>{c['authEventId']}</td><td>{_when(c['created'])}</td><td class='status'>"
        f"{'app access revoked' if state.grants.get(c['authEventId'], {}).get('revoked') else 'connected'}</td></tr>"
        for c in state.connections.values()
    ) or "<tr><td colspan='5' class='muted'>No connections yet.</td></tr>"
    return (f"<section><h2>Connections</h2><table id='connections'><tr><th>Organisation</th><th>Connection</th>"
            f"<th>Auth event</th><th>Connected</th><th>Status</th></tr>{rows}</table></section>")


def _api_calls_section(state: XeroState) -> str:
    rows = "".join(
        f"<tr><td>{_when(call.at)}</td><td>{escape(call.method)}</td><td>{escape(call.path)}</td>"
        f"<td>{call.status}</td></tr>"
        for call in reversed(state.api_calls)
    ) or "<tr><td colspan='4' class='muted'>No calls yet.</td></tr>"
    return (f"<section><h2>Recent API calls</h2><table id='api-calls'><tr><th>At</th><th>Method</th>"
            f"<th>Path</th><th>Status</th></tr>{rows}</table></section>")
