"""Services say what happened (a code and its data); bot/blocks words it. These builders are pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import get_args

import pytest

from bot.blocks import connections as connection_blocks
from bot.blocks import imports as import_blocks
from bot.blocks.errors import (
    FORECAST_WORDS,
    XERO_WORDS,
    error_words,
    forecast_words,
    problem_words,
    xero_words,
)
from services.connections.service import ConsentFailed, RemovalResult, Tenant
from services.forecast.errors import ForecastCode, ForecastUnavailable, error_for
from services.imports.common import ImportProblem, ImportSummary, MissingForecastKey, Outcome, ProblemCode, Reason
from services.imports.purchase_orders import CurrencyRefused, cost_in
from services.shared.problems import Problem
from services.xero.errors import XeroCode, XeroError, XeroRateLimited, parse_xero_error


def reason(code: str, data: dict | None = None, noun: str = "contact") -> str:
    return import_blocks.reason_words(Outcome("Acme", "Org", "failed", code, data or {}), noun)


def test_each_import_reason_reads_as_a_sentence_with_its_data():
    assert reason("already_linked", {"client_name": "Acme Ltd", "client_id": 7}) == \
        "already linked to Forecast client Acme Ltd"
    assert reason("already_linked", {"client_name": None, "client_id": 7}) == "already linked to Forecast client id 7"
    assert reason("another_import_running") == "another import of this contact is running"
    assert reason("another_import_running", noun="purchase order") == \
        "another import of this purchase order is running"
    assert reason("no_name") == "a contact with no name cannot become a Forecast client"
    assert reason("client", {"client_name": "Acme", "client_id": 12}) == "Forecast client Acme (id 12)"
    assert reason("already_imported", {"expense_item_id": 501, "project": "P4 Website"}) == \
        "already imported as expense item 501 in project P4 Website"
    assert reason("expense_item", {"expense_item_id": 501, "project": ""}) == "expense item 501 in"


def test_a_refused_currency_names_both_currencies_and_an_unknown_base():
    with pytest.raises(CurrencyRefused) as refused:
        cost_in("GBP", Decimal(10), "USD", None, None)
    words = reason(refused.value.reason, refused.value.data)
    assert words.startswith("it is in USD and Forecast keeps costs in GBP;")
    assert "base currency (unknown)" in words
    with pytest.raises(CurrencyRefused) as no_rate:
        cost_in("GBP", Decimal(10), "USD", None, "GBP")
    assert reason(no_rate.value.reason, no_rate.value.data) == \
        "it is in USD and Xero gives no exchange rate to GBP for it"


def test_a_forecast_refusal_quotes_forecast_and_an_unknown_reason_shows_as_it_is():
    refused = error_for(422, json.dumps({"message": "name is too long"}), what="the client", api_key="k")
    assert reason("forecast_refused", {"error": refused}) == \
        "Forecast refused the request for the client (Forecast said: name is too long)"
    assert reason("something_new") == "something_new"


def test_import_problems_say_what_is_wrong_and_what_to_do():
    text, hint = import_blocks.problem_words(MissingForecastKey())
    assert text == "The Forecast API key is not set for this workspace."
    assert hint and "`/xero settings`" in hint
    unreadable = ImportProblem("currency_unreadable", error_for(503, "", what="the company", api_key="k"))
    text, hint = import_blocks.problem_words(unreadable)
    assert text == ("Could not read Forecast's company currency: Forecast is having trouble (HTTP 503) — "
                    "try again in a few minutes")
    assert hint == "Nothing was imported. Try again in a few minutes."
    view = import_blocks.problem_view("Import", "cb", ImportProblem("project_gone"))
    assert "no longer exists" in json.dumps(view["blocks"])


def test_a_purchase_order_summary_words_its_reasons():
    summary = ImportSummary(destination="P4 Website")
    summary.add("PO-1", "UK", "skipped", "another_import_running")
    summary.add("PO-2", "UK", "created", "expense_item", {"expense_item_id": 9, "project": "P4 Website"})
    text = json.dumps(import_blocks.po_summary(summary)["blocks"])
    assert "another import of this purchase order is running" in text
    assert "expense item 9 in P4 Website" in text


# Xero and Forecast errors: the words are those the services' `message` gave, so callers can move over unchanged.

@pytest.mark.parametrize("status, body, headers, words", [
    (401, "", {}, "The connection to Xero is no longer authorised — reconnect with /xero connect"),
    (403, "", {}, "Xero refused access to this organisation (missing permission or the organisation was "
                  "disconnected) — reconnect with /xero connect"),
    (404, "Not found", {}, "Xero could not find the invoice"),
    (429, "", {"X-Rate-Limit-Problem": "minute"}, "Xero is rate limiting this organisation (minute limit)"),
    (429, "", {}, "Xero is rate limiting this organisation"),
    (503, "", {}, "Xero is unavailable right now (HTTP 503)"),
    (400, {"Type": "ValidationException", "Elements": [{"ValidationErrors": [{"Message": "Email is invalid"}]}]}, {},
     "Xero rejected the invoice: Email is invalid"),
    (400, {"Message": "Bad where clause"}, {}, "Xero could not process the invoice (HTTP 400): Bad where clause"),
])
def test_xero_errors_read_as_before(status, body, headers, words):
    error = parse_xero_error(status, body, headers, subject="invoice")
    assert xero_words(error) == words
    stored = Problem.model_validate(json.loads(json.dumps(Problem.of(error).model_dump(mode="json"))))
    assert problem_words(stored) == words  # as a sync report keeps it
    assert "/xero" not in str(error)  # what the service says is for logs


def test_xero_words_keep_xeros_own_messages_and_the_attempts():
    error = parse_xero_error(400, {"Elements": [{"ValidationErrors": [{"Message": "Email is invalid"}]}]},
                             subject="contact")
    assert error.code == "rejected" and error.details == ["Email is invalid"]
    assert xero_words(error) == "Xero rejected the contact: Email is invalid"
    gave_up = XeroRateLimited("", code="rate_limited", data={"problem": "minute", "attempts": 3})
    assert xero_words(gave_up) == "Xero is rate limiting this organisation (minute limit) — gave up after 3 attempts"
    assert xero_words(XeroError("legacy words only")) == "legacy words only"


@pytest.mark.parametrize("status, words", [
    (401, "Forecast refused the API key — an admin can set a new one in /xero settings (Forecast said: no)"),
    (404, "Forecast could not find the projects"),
    (422, "Forecast refused the request for the projects (Forecast said: no)"),
    (429, "Forecast is busy (HTTP 429) — try again in a few minutes (Forecast said: no)"),
    (500, "Forecast is having trouble (HTTP 500) — try again in a few minutes (Forecast said: no)"),
    (418, "Forecast answered HTTP 418 for the projects (Forecast said: no)"),
])
def test_forecast_errors_read_as_before(status, words):
    error = error_for(status, json.dumps({"message": "no"}), what="the projects", api_key="k")
    assert forecast_words(error) == words
    stored = Problem.model_validate(json.loads(json.dumps(Problem.of(error).model_dump(mode="json"))))
    assert problem_words(stored) == words  # as a sync report keeps it
    assert "/xero" not in str(error)  # what the service says is for logs


def test_a_problem_stored_by_an_older_version_reads_as_it_was_stored():
    assert problem_words("Forecast is busy (HTTP 429) — try again in a few minutes") == \
        "Forecast is busy (HTTP 429) — try again in a few minutes"


def test_forecast_words_can_leave_out_forecasts_own_text():
    error = ForecastUnavailable("", code="timeout", data={"seconds": 2.0}, forecast_message="slow")
    slow = "Forecast did not answer within 2 seconds — try again in a few minutes."
    assert forecast_words(error) == f"{slow} (Forecast said: slow)"
    assert forecast_words(error, quote=False) == slow
    assert error_words(RuntimeError("secret internals")) == "RuntimeError"


# Connections ---------------------------------------------------------------------------------

TENANT = Tenant(team_id="T1", tenant_id="t1", name="Acme UK", connection_id="c1", token_set_id="s1",
                connected_by="U1", connected_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_a_failed_consent_says_why():
    assert connection_blocks.consent_failure_words(ConsentFailed("T1", "U1", "no_organisation")) == \
        "Xero granted access to no organisation"
    failed = ConsentFailed("T1", "U1", "xero_failed", parse_xero_error(503, "", subject="connection"))
    assert "Xero is unavailable right now (HTTP 503)" in connection_blocks.consent_failed(failed)["text"]


def test_a_removal_xero_was_not_told_of_says_where_to_finish_it():
    told = connection_blocks.removal_done(RemovalResult(tenant=TENANT, unlinked=2), "U1")
    untold = connection_blocks.removal_done(RemovalResult(tenant=TENANT, unlinked=2, xero_still_listed=True), "U1")
    assert "Connected apps" not in json.dumps(told["blocks"])
    assert "still be listed under Connected apps in Xero" in json.dumps(untold["blocks"])


# Every code a service gives has words: a new one would otherwise reach people as a bare code. ----------
# The codes are declared as Literal types beside the errors (mypy checks every place that sets one), so a code added
# there without words here fails this test.

def test_every_code_the_services_give_has_words():
    assert set(get_args(XeroCode)) - {"failed"} <= set(XERO_WORDS)
    assert set(get_args(ForecastCode)) - {"failed"} <= set(FORECAST_WORDS)
    assert set(get_args(ProblemCode)) <= set(import_blocks.PROBLEMS)
    assert set(get_args(Reason)) - {"", "similar_name"} <= set(import_blocks.REASONS)


@pytest.mark.parametrize("code", sorted(set(get_args(XeroCode)) - {"failed"}))
def test_each_xero_code_reads_as_words_not_as_the_code(code):
    words = xero_words(XeroError(code=code, data={"subject": "invoice", "status": 503, "problem": "minute",
                                                   "seconds": 2.0, "purpose": "token refresh", "described": "no"}))
    assert words and words != code and "{" not in words


@pytest.mark.parametrize("code", sorted(set(get_args(ForecastCode)) - {"failed"}))
def test_each_forecast_code_reads_as_words_not_as_the_code(code):
    from services.forecast.errors import ForecastError

    words = forecast_words(ForecastError(code=code, data={"what": "the invoice", "status": 503, "seconds": 2.0,
                                                          "reference": "INV-1"}))
    assert words and words != code and "{" not in words


def test_every_reason_a_settings_form_is_refused_has_words_next_to_its_field():
    from bot.blocks import settings as settings_blocks
    from services.forecast import ForecastUnavailable

    codes = set(get_args(settings_blocks.FormProblemCode))
    assert codes - {"key_unchecked"} == set(settings_blocks.FORM_PROBLEMS)
    said = settings_blocks.form_errors({
        "approver_users": settings_blocks.FormProblem("approver_is_bot", user_id="U0BOT"),
        "forecast_api_key": settings_blocks.FormProblem("key_unchecked", error=ForecastUnavailable(code="unreachable")),
    })
    assert said["approver_users"] == "<@U0BOT> is a bot and cannot approve exports. Choose people."
    assert said["forecast_api_key"].startswith("I could not check this key with Forecast")
