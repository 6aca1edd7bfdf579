"""/xero audit through the real routes: who did what and what flowed back, newest first, in the asker's time zone;
admins only; filters; bounded to Block Kit's limits; the CSV file in the admin's DM; the Home tab's button."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.blocks.audit import AUDIT_HOME_ACTION
from services.shared.audit import AuditTrail
from tests.scenarios.sync.test_xero_sync import deliver, export_invoice, invoice_event
from tests.support.export_flow import click, final_update, job_id_of, prepare, request, text_of
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.sync_flow import WEBHOOK_KEY
from tests.support.xero_identity import UK_TENANT

KIWI = "U0KIWI"  # an admin in Auckland


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    harness.slack.users[KIWI] = {"id": KIWI, "name": "kiri", "real_name": "Kiri Admin", "is_admin": True,
                                 "tz": "Pacific/Auckland"}
    yield harness
    await stop_harness(harness)


async def exported(bot, xero) -> str:
    await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    return job_id


def lines_of(answer: dict) -> list[str]:
    """The entries shown, one per line, newest first."""
    return [line for block in answer["blocks"] if block["type"] == "section"
            for line in block["text"]["text"].split("\n") if line.startswith("`")]


async def test_audit_says_who_did_what_newest_first_in_the_askers_time_zone(bot, xero):
    await exported(bot, xero)

    answer = await bot.ask("audit", user=KIWI)

    assert answer["response_type"] == "ephemeral"
    shown = lines_of(answer)
    words = [re.sub(r"^`[^`]*`\s+", "", line) for line in shown]
    assert "*INV-101* was exported to *Demo Company (UK)* as *INV-101* (Draft)" in words[0]
    assert words[1].endswith("<@U0APPROVER> approved *INV-101* for *Demo Company (UK)*")
    assert words[2].endswith("<@U0MEMBER> asked to export *INV-101*")
    assert "<@U0ADMIN> changed the settings: approval channel, notification channel, Forecast API key" in words[3]
    assert words[4].endswith("<@U0ADMIN> connected *Demo Company (UK)*")
    assert "times in Pacific/Auckland" in text_of(answer)
    newest = await bot.storage.audit.find_one({"action": "exported"})
    auckland = newest["at"].astimezone(ZoneInfo("Pacific/Auckland")).strftime("%Y-%m-%d %H:%M")
    assert shown[0].startswith(f"`{auckland}`")

    in_london = await bot.ask("audit", user="U0ADMIN")  # the sandbox's people are in Europe/London
    assert "times in Europe/London" in text_of(in_london)


async def test_only_admins_may_read_the_audit_trail(bot, xero):
    await exported(bot, xero)
    for words in ("audit", "audit export"):
        answer = await bot.ask(words, user="U0MEMBER")
        assert "Only admins" in text_of(answer) and "INV-101" not in text_of(answer)
    assert bot.slack.called("files.getUploadURLExternal") == []


async def test_audit_filters_by_invoice_person_organisation_and_since(bot, xero):
    await exported(bot, xero)

    invoice = lines_of(await bot.ask("audit inv-101"))
    assert len(invoice) == 3 and all("INV-101" in line for line in invoice)

    by_grace = lines_of(await bot.ask("audit @grace"))  # found with users.list
    assert len(by_grace) == 2 and "exported" in by_grace[0] and "approved" in by_grace[1]  # exported as she approved
    assert lines_of(await bot.ask("audit <@U0APPROVER|grace>")) == by_grace

    organisation = lines_of(await bot.ask("audit Demo Company (UK)"))
    assert len(organisation) == 4 and not any("changed the settings" in line for line in organisation)

    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    later = await bot.ask(f"audit since {tomorrow}")
    assert lines_of(later) == [] and "Nothing recorded for this" in text_of(later)
    assert len(lines_of(await bot.ask("audit INV-101 since 1d"))) == 3

    bad_date = await bot.ask("audit since last-tuesday")
    assert "not a date I can read" in text_of(bad_date)
    unknown = await bot.ask("audit Nobody Ltd")
    assert "No connected or removed organisation is called `Nobody Ltd`" in text_of(unknown)


async def test_a_long_trail_shows_the_newest_fifty_within_block_kit_limits_and_says_how_many_more(bot):
    trail = AuditTrail(bot.storage)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(120):
        await trail.record(TEAM_ID, "rejected", by="U0APPROVER", reference=f"INV-{n}", at=start + timedelta(hours=n),
                           details={"reason": "x" * 200})

    answer = await bot.ask("audit")

    shown = lines_of(answer)
    assert len(shown) == 50 and "INV-119" in shown[0] and "INV-70" in shown[-1]
    assert len(answer["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in answer["blocks"] if b["type"] == "section")
    assert "70 more not shown" in text_of(answer) and "/xero audit export" in text_of(answer)


async def test_audit_export_uploads_a_csv_file_to_the_admins_dm(bot, xero):
    await exported(bot, xero)

    answer = await bot.ask("audit export INV-101")

    assert "Sent the audit trail (3 entries) to our DM" in text_of(answer)
    [announced] = bot.slack.called("files.getUploadURLExternal")
    assert announced["filename"].startswith("ledgerline-audit-") and announced["filename"].endswith(".csv")
    [uploaded] = bot.slack.called("upload")
    assert uploaded.response["status"] == 200 and uploaded["bytes"] == int(announced["length"])
    [completed] = bot.slack.called("files.completeUploadExternal")
    assert completed["channel_id"] == "D0ADMIN"
    [in_dm] = [m for m in bot.slack.state.channel_messages["D0ADMIN"] if m.get("files")]
    assert "times in Europe/London" in in_dm["text"]
    content = bot.slack.state.files[in_dm["files"][0]["id"]]["content"]
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [r["action"] for r in rows] == ["exported", "approved", "requested"]
    assert rows[1]["by"] == "U0APPROVER" and rows[1]["what"] == "U0APPROVER approved INV-101 for Demo Company (UK)"
    assert rows[0]["organisation"] == "Demo Company (UK)" and "xero_number=INV-101" in rows[0]["details"]


async def test_a_failed_upload_is_said_plainly(bot, xero):
    await exported(bot, xero)
    bot.slack.fail_next("files.getUploadURLExternal", "missing_scope")

    answer = await bot.ask("audit export")

    assert "couldn't upload the CSV file" in text_of(answer) and "files:write" in text_of(answer)


async def test_the_home_tab_button_sends_the_trail_to_admins_only(bot, xero):
    await exported(bot, xero)
    home = await bot.open_home("U0ADMIN")
    assert AUDIT_HOME_ACTION in json.dumps(home)

    await bot.home_click(AUDIT_HOME_ACTION, "audit", user="U0ADMIN")
    sent = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0ADMIN"
                                    and "Audit trail" in text_of(c))
    assert "approved *INV-101*" in text_of(sent)

    await bot.home_click(AUDIT_HOME_ACTION, "audit", user="U0MEMBER")
    refused = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER"
                                       and "Only admins" in text_of(c))
    assert "INV-101" not in text_of(refused)


async def test_payments_and_statuses_from_xero_appear_once_though_the_webhook_repeats(bot, xero):
    books, _, _ = await export_invoice(bot, xero)
    books.pay(UK_TENANT, "500.00", on="2026-12-02")
    await deliver(bot, invoice_event(books, when="2026-12-02T09:00:00.000"))
    await deliver(bot, invoice_event(books, when="2026-12-02T09:00:00.000"))

    shown = lines_of(await bot.ask("audit INV-101"))

    paid = [line for line in shown if "payment of GBP 500.00" in line]
    assert len(paid) == 1 and "paid on 2026-12-02" in paid[0] and "Xero:" in paid[0]
    assert any("is now partly paid" in line for line in shown)
