"""The batch approval message an approver reads, the full list, and the requester's one answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from slack_sdk.models.blocks import Block

from bot.blocks import batches
from bot.blocks.batches import RefusedReference
from sandbox.slack.webapi import validate_view
from services.exports.batch_view import BatchLine, BatchView


def line(n: int, check: str = "ready", **changes) -> BatchLine:
    values = dict(reference=f"INV-{n}", client=f"Client {n % 4}", currency="USD", total=Decimal("13852.50"),
                  organisation="Demo Company (US)", check=check)
    values.update(changes)
    return BatchLine(**values)


def view(lines, state="pending", **changes) -> BatchView:
    return BatchView(batch_id="b-1", requested_by="U0MAX", state=state, export_status="AUTHORISED",
                     lines=tuple(lines), **changes)


def text_of(payload: dict) -> str:
    return str(payload["blocks"])


def assert_valid_blocks(blocks: list[dict], limit: int) -> None:
    assert len(blocks) <= limit
    for block in blocks:
        Block.parse(block).validate_json()  # slack_sdk's own Block Kit checks (lengths, required fields)


def test_one_invoice_is_a_batch_of_one_with_approve_and_reject():
    payload = batches.batch_approval_message(view([line(101)]))
    buttons = [e["text"]["text"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Approve", "Reject"]
    assert payload["text"] == "Export 1 invoice to Xero?"
    shown = text_of(payload)
    assert "INV-101" in shown and "Client 1" in shown and "USD 13,852.50" in shown and "Demo Company (US)" in shown
    assert "ready" in shown and "Approved" in shown  # the export status setting
    assert_valid_blocks(payload["blocks"], 50)


def test_a_fifty_invoice_batch_fits_slacks_limits_with_problems_first_and_the_full_list_one_click_away():
    lines = [line(n) for n in range(100, 148)] + [
        line(148, "tax_unmapped", check_data={"percents": ["12.5"]}),
        line(149, "currency_not_enabled", currency="EUR", check_data={"currency": "EUR", "enabled": ["USD", "CAD"]}),
    ]
    payload = batches.batch_approval_message(view(lines))

    assert_valid_blocks(payload["blocks"], 50)
    shown = text_of(payload)
    assert "INV-148" in shown and "no active sales tax rate of 12.5% there" in shown
    assert "EUR is not enabled there (it has USD, CAD)" in shown
    assert "…and 35 more" in shown
    buttons = [e["text"]["text"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Approve all (50)", "Approve ready only (48)", "Reject", "See all"]

    modal = batches.batch_lines_modal(view(lines))
    validate_view(modal)
    assert_valid_blocks(modal["blocks"], 100)
    assert all(f"INV-{n}" in str(modal["blocks"]) for n in range(100, 150))


def test_a_total_xero_would_compute_differently_says_both_amounts():
    payload = batches.batch_approval_message(view([
        line(103, "total_mismatch", check_data={"expected": "13852.50", "computed": "15029.96"})]))
    assert "Xero would total USD 15,029.96, Forecast says USD 13,852.50" in text_of(payload)


def test_an_invoice_exported_to_a_removed_organisation_needs_an_admins_explicit_choice():
    payload = batches.batch_approval_message(view([line(1), line(2, "exported_to_removed_org")]))
    picker = next(b for b in payload["blocks"] if b.get("block_id") == batches.DUPLICATE_BLOCK)
    assert [o["value"] for o in picker["accessory"]["options"]] == ["INV-2"]
    assert "exist in two organisations" in picker["text"]["text"]
    assert_valid_blocks(payload["blocks"], 50)


def test_after_export_each_line_shows_xeros_number_status_and_total_and_flags_a_difference():
    done = view([
        line(1, outcome="created", xero_number="INV-1", xero_total=Decimal("13852.50"), xero_status="AUTHORISED",
             url="https://go.xero.com/x"),
        line(2, outcome="created", xero_number="INV-2", xero_total=Decimal("15029.96"), xero_status="DRAFT"),
        line(3, outcome="failed", messages=("Organisation is not subscribed to currency EUR",)),
        line(4, "already_in_xero", outcome="linked_existing", xero_number="INV-4", xero_total=Decimal("13852.50"),
             xero_status="AUTHORISED"),
    ], state="done", decided_by="U0GRACE")
    payload = batches.batch_approval_message(done)
    shown = text_of(payload)

    assert payload["text"] == "Exported 3 of 4 invoices to Xero"  # one refused by Xero
    assert "created as <https://go.xero.com/x|INV-1> (Approved), Xero total USD 13,852.50" in shown
    assert "Xero total USD 15,029.96 :warning: *differs from Forecast's USD 13,852.50*" in shown
    assert "Xero refused it: Organisation is not subscribed to currency EUR" in shown
    assert "linked (was in Xero) as INV-4" in shown
    assert "*2* created · *1* linked · *1* refused by Xero" in shown and "*1* with a Xero total that differs" in shown
    assert not any(b["type"] == "actions" for b in payload["blocks"])  # nothing left to click


def test_a_batch_waiting_for_xeros_day_says_when_it_goes_on():
    waiting = view([line(1, outcome="created", xero_total=Decimal("13852.50")), line(2, outcome="waiting")],
                   state="waiting", decided_by="U0GRACE", resumes_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    shown = text_of(batches.batch_approval_message(waiting))
    assert "daily call limit" in shown and "goes on by itself" in shown and "2026-12-02" in shown
    assert "waiting for Xero's daily limit" in shown and "*1* to go" in shown


def test_the_requester_hears_once_what_went_and_what_was_refused_and_why():
    answer = batches.batch_requested(5, [
        RefusedReference("INV-999", "not_found"),
        RefusedReference("INV-7", "already_exported", {"organisation": "Demo Company (UK)"}),
        RefusedReference("INV-1..INV-600", "range_too_long", {"count": 600}),
    ], view([line(1), line(2, "tax_unmapped", check_data={"percents": ["7"]})]), "C0APPROVALS")
    shown = text_of(answer)
    assert answer["text"] == "2 invoices went for approval; 3 not sent"
    assert "<#C0APPROVALS>" in shown and "*1* ready" in shown and "*1* needs attention first" in shown
    assert "`INV-999` — no Forecast invoice has this reference" in shown
    assert "already in Xero (Demo Company (UK))" in shown
    assert "the range has 600 invoices; at most 500" in shown
    assert_valid_blocks(answer["blocks"], 50)


def test_nothing_sent_is_said_plainly():
    answer = batches.batch_requested(1, [RefusedReference("INV-9", "not_found")], None, None)
    assert answer["text"] == "Nothing went for approval; 1 not sent"


def test_a_line_is_built_from_the_pre_flight_and_the_export_outcome():
    from services.exports.batch_view import batch_view
    from services.exports.batches import Batch, checked_line
    from services.exports.preflight import preflight
    from services.exports.store import ExportRequest
    from services.forecast import ForecastCustomer, ForecastInvoice
    from services.xero.models import XeroAccount, XeroTaxRate
    from services.xero.reference import OrgReference

    reference = OrgReference("T-US", ("USD",), (XeroAccount(code="200", type="REVENUE", status="ACTIVE"),),
                             (XeroTaxRate(tax_type="NONE", effective_rate=Decimal(0), status="ACTIVE",
                                          can_apply_to_revenue=True),), 0)
    forecast = ForecastInvoice.model_validate({"id": 103, "invoice_reference": "INV-103", "currency": "USD",
                                               "entries": [{"name": "Forecast work", "quantity": 1,
                                                            "unit_price": 13852.5, "tax": 0}]})
    now = datetime(2026, 1, 30, tzinfo=UTC)
    job = ExportRequest(job_id="j-103", team_id="T1", reference="INV-103", forecast_invoice_id=103, invoice=forecast,
                        customer=ForecastCustomer(id=7, name="Acme"), requested_by="U0MAX", requested_at=now,
                        tenant_id="T-US", tenant_name="Demo Company (US)", batch_id="b-1")

    def line_of(check, job=job, decision="pending") -> BatchLine:
        batch = Batch("b-1", "T1", "U0MAX", [job.job_id], {job.job_id: checked_line(check)}, decision=decision)
        return batch_view(batch, [job], now).lines[0]

    check = preflight(forecast, "T-US", reference)
    before = line_of(check)
    assert (before.check, before.total, before.outcome) == ("ready", Decimal("13852.50"), None)

    exported = job.model_copy(update={"state": "exported", "outcome": "created", "xero_total": "13852.50",
                                      "xero_invoice_number": "INV-103", "xero_status": "AUTHORISED"})
    done = line_of(check, exported, "approved")
    assert "created as INV-103 (Approved), Xero total USD 13,852.50" in batches.line_text(done)

    unmapped = preflight(forecast.model_copy(update={"entries": [forecast.entries[0].model_copy(update={"tax": 7})]}),
                         "T-US", reference)
    data = line_of(unmapped).check_data
    assert data["percents"] == ["7"] and data["plan"]["account_code"] == "200"  # and what the lines would carry


CHOICES = (("T-UK", "Demo Company (UK)"), ("T-US", "Demo Company (US)"))


def unrouted(n: int, client: int) -> BatchLine:
    return line(n, "choose_organisation", organisation=None, job_id=f"job{n}", client_id=client,
                client=f"Client {client}", choices=CHOICES)


def test_fifty_lines_to_route_fit_slacks_limits_with_a_picker_per_line_and_per_client():
    lines = [unrouted(100 + n, n // 2) for n in range(50)]  # 25 clients with 2 invoices each, none linked
    payload = batches.batch_approval_message(view(lines))
    assert_valid_blocks(payload["blocks"], 50)
    pickers = [b["accessory"] for b in payload["blocks"]
               if b.get("accessory", {}).get("action_id") == batches.CHOOSE_ORGANISATION_ACTION]
    assert len(pickers) == 15 + 5  # each line shown, and the first clients' "all of its invoices"
    assert "choose its organisation" in text_of(payload)

    modal = batches.batch_lines_modal(view(lines))
    validate_view(modal)
    assert_valid_blocks(modal["blocks"], 100)
    in_modal = [b for b in modal["blocks"] if b.get("accessory")]
    assert len(in_modal) == 50 + 20 and all(f"INV-{n}" in str(modal["blocks"]) for n in range(100, 150))


def test_a_pickers_value_names_the_batch_the_line_or_client_and_the_organisation():
    chosen = replace(unrouted(2, 7), tenant_id="T-US", organisation="Demo Company (US)")
    payload = batches.batch_approval_message(view([unrouted(1, 7), chosen]))
    line_picker, client_picker = [], []
    for block in payload["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == batches.CHOOSE_ORGANISATION_ACTION:
            (client_picker if "all 2 of its invoices" in block["text"]["text"] else line_picker).append(accessory)
    assert len(client_picker) == 1 and len(line_picker) == 2
    first = batches.read_organisation_choice(line_picker[0]["options"][1]["value"])
    assert first == batches.OrganisationChoice("b-1", "T-US", job_id="job1")
    assert line_picker[1]["initial_option"]["text"]["text"] == "Demo Company (US)"  # the choice made shows
    client = batches.read_organisation_choice(client_picker[0]["options"][0]["value"])
    assert client == batches.OrganisationChoice("b-1", "T-UK", client_id=7)
    assert batches.read_organisation_choice("not-ours") is None
    assert batches.read_organisation_choice("b-1:client-x:T-UK") is None


def test_no_picker_once_the_batch_is_decided_and_a_rejection_says_why():
    rejected = view([unrouted(1, 7)], state="rejected", decided_by="U0GRACE", reason="Wrong month")
    payload = batches.batch_approval_message(rejected)
    assert not any(b.get("accessory") for b in payload["blocks"])
    assert "Rejected by <@U0GRACE>: Wrong month" in text_of(payload)
    notice = batches.batch_requester_notice(rejected, "https://slack/link")
    assert "Wrong month" in text_of(notice) and "/xero export" in text_of(notice)
    modal = batches.batch_reject_modal(view([line(1), line(2)]), channel_id="C0APPROVALS")
    validate_view(modal)
    assert "all 2 invoices" in text_of(modal) and modal["callback_id"] == batches.REJECT_CALLBACK_ID


def long_client_line(n: int) -> BatchLine:
    return line(n, client="Acme International Holdings Limited (Northern Europe)", organisation="Demo Company (UK)")


def test_a_month_end_of_500_fits_the_message_and_see_all_pages_through_every_line():
    lines = [long_client_line(n) for n in range(1000, 1480)] + [unrouted(1480 + n, n // 2) for n in range(20)]
    lines[250] = replace(lines[250], check="tax_unmapped", check_data={"percents": ["12.5"]})
    payload = batches.batch_approval_message(view(lines))
    assert_valid_blocks(payload["blocks"], 50)
    assert "…and 485 more" in text_of(payload) and "INV-1250" in text_of(payload)

    seen: set[str] = set()
    for page in range(5):
        modal = batches.batch_lines_modal(view(lines), page)
        validate_view(modal)
        assert_valid_blocks(modal["blocks"], 100)
        assert all(len(b["text"]["text"]) <= 3000 for b in modal["blocks"] if b["type"] == "section")
        assert f"page {page + 1} of 5" in text_of(modal)
        buttons = [e["text"]["text"] for b in modal["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert buttons == (["Next"] if page == 0 else ["Previous"] if page == 4 else ["Previous", "Next"])
        seen |= {f"INV-{n}" for n in range(1000, 1500) if f"`INV-{n}`" in text_of(modal)}
    assert seen == {f"INV-{n}" for n in range(1000, 1500)}
    assert batches.batch_lines_modal(view(lines), 99)["private_metadata"] == '{"batch_id": "b-1", "page": 4}'


def test_a_page_of_100_lines_to_route_keeps_pickers_for_as_many_as_fit_and_says_so():
    lines = [unrouted(1000 + n, n) for n in range(100)] + [line(n) for n in range(2000, 2300)]
    modal = batches.batch_lines_modal(view(lines))
    assert_valid_blocks(modal["blocks"], 100)
    pickers = [b for b in modal["blocks"] if b.get("accessory", {}).get("action_id") ==
               batches.CHOOSE_ORGANISATION_ACTION]
    assert 40 <= len(pickers) < 100 and "A picker is on the first" in text_of(modal)
    assert all(f"`INV-{n}`" in text_of(modal) for n in range(1000, 1100))


def test_the_requesters_answer_for_500_invoices_lists_what_a_section_holds_and_those_beyond_are_told_again():
    lines = [line(n) for n in range(1000, 1500)]
    refused = [RefusedReference(f"INV-{n}", "too_many", {"limit": 500}) for n in range(1500, 1510)]
    payload = batches.batch_requested(510, refused, view(lines), "C0APPROVALS")
    assert_valid_blocks(payload["blocks"], 50)
    assert "500 invoices went to" in text_of(payload) and "more" in text_of(payload)
    assert "at most 500 invoices go in one batch: ask again for these" in text_of(payload)
