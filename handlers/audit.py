"""/xero audit [invoice | organisation | @person] [since], /xero audit export, and the Home tab's button."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt.async_app import AsyncApp

from bot.blocks import audit as blocks
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.requests.reader import BlockAction
from bot.slack_gateway import SlackCallFailed
from handlers.router import CommandContext, CommandRouter
from services.platform.logfmt import fields
from services.shared.audit import AuditQuery, AuditTrail
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

USAGE = "/xero audit [INV-123 | organisation | @person] [since 2026-03-01]"
_REFERENCE = re.compile(r"[A-Za-z]{1,10}-\d+")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{5,}")
_DAYS = re.compile(r"(\d{1,4})d(?:ays?)?", re.IGNORECASE)


@dataclass(frozen=True)
class BadAuditInput(Exception):
    problem: str  # bad_date | no_organisation
    words: str


def parse_since(word: str, zone: tzinfo, now: datetime) -> datetime | None:
    """2026-03-01 (midnight where the asker is), 7d, today, yesterday; None when it is none of these."""
    lowered = word.lower()
    today = now.astimezone(zone).date()
    if lowered in ("today", "yesterday"):
        day = today - timedelta(days=1 if lowered == "yesterday" else 0)
    elif days := _DAYS.fullmatch(lowered):
        return now - timedelta(days=int(days.group(1)))
    else:
        try:
            day = date.fromisoformat(word)
        except ValueError:
            return None
    return datetime.combine(day, time(0), zone)


async def read_query(container: Container, trail: AuditTrail, team_id: str, args: list[str],
                     zone: tzinfo) -> tuple[AuditQuery, list[str]]:
    """The typed words as a query, and the names of the organisations it picked. Raises BadAuditInput."""
    reference = by = since = None
    rest: list[str] = []
    words = list(args)
    while words:
        word = words.pop(0)
        if word.lower() == "since":
            if not words:
                raise BadAuditInput("bad_date", "")
            since = parse_since(words[0], zone, utcnow())
            if since is None:
                raise BadAuditInput("bad_date", words[0])
            words.pop(0)
        elif (found := parse_since(word, zone, utcnow())) is not None:
            since = found
        elif _REFERENCE.fullmatch(word):
            reference = word.upper()
        elif mention := _MENTION.fullmatch(word):
            by = mention.group(1)
        elif _USER_ID.fullmatch(word):
            by = word
        elif word.startswith("@") and len(word) > 1:
            by = await container.gateway.for_team(team_id).find_user(word) or word
        else:
            rest.append(word)
    tenant_ids: tuple[str, ...] = ()
    names: list[str] = []
    if rest:
        wanted = " ".join(rest).casefold()
        known = await trail.organisations(team_id)
        for tenant in await container.connections.list_tenants(team_id):
            known.setdefault(tenant.tenant_id, tenant.name)
        exact = {tid: name for tid, name in known.items() if name.casefold() == wanted}
        picked = exact or {tid: name for tid, name in known.items() if wanted in name.casefold()}
        if not picked:
            raise BadAuditInput("no_organisation", " ".join(rest))
        tenant_ids, names = tuple(picked), sorted(set(picked.values()))
    return AuditQuery(reference=reference, tenant_ids=tenant_ids, by=by, since=since), names


async def asker_zone(container: Container, team_id: str, user_id: str) -> tuple[tzinfo, str]:
    """The asker's time zone from Slack (users.info `tz`), else UTC."""
    name = await container.gateway.for_team(team_id).time_zone(user_id) or "UTC"
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "UTC"


async def audit_answer(container: Container, team_id: str, user_id: str, args: list[str]) -> dict:
    trail = AuditTrail(container.storage)
    zone, zone_name = await asker_zone(container, team_id, user_id)
    try:
        query, names = await read_query(container, trail, team_id, args, zone)
    except BadAuditInput as bad:
        return blocks.audit_bad_input(bad.problem, bad.words)
    page = await trail.page(team_id, query, limit=blocks.SHOWN)
    return blocks.audit_message(page, zone, zone_name, organisation_names=names)


async def show_audit(ctx: CommandContext) -> None:
    """Waits for Slack's users.info (the asker's time zone), so it answers through the response_url."""
    await ctx.reply(await audit_answer(ctx.container, ctx.team_id, ctx.user_id, ctx.args))


async def export_audit(ctx: CommandContext) -> None:
    container = ctx.container
    trail = AuditTrail(container.storage)
    zone, zone_name = await asker_zone(container, ctx.team_id, ctx.user_id)
    try:
        query, _ = await read_query(container, trail, ctx.team_id, ctx.args, zone)
    except BadAuditInput as bad:
        await ctx.reply(blocks.audit_bad_input(bad.problem, bad.words))
        return
    page = await trail.export(ctx.team_id, query)
    stamp = utcnow().astimezone(zone).strftime("%Y-%m-%d")
    try:
        await container.gateway.for_team(ctx.team_id).upload_to_dm(
            ctx.user_id, filename=f"ledgerline-audit-{stamp}.csv", content=blocks.audit_csv(page, zone),
            title=f"Ledgerline audit trail {stamp}", comment=blocks.audit_file_comment(page, zone_name))
    except SlackCallFailed as failed:
        await ctx.reply(blocks.audit_not_sent(failed.error))
        return
    log.info("audit.exported", **fields(team=ctx.team_id, user=ctx.user_id, rows=len(page.entries)))
    await ctx.reply(blocks.audit_sent(len(page.entries)))


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("audit", show_audit, usage=USAGE, admin_only=True, example="/xero audit INV-101 since 2026-03-01",
               summary="Who connected, removed, approved, rejected, retried, exported and changed settings, and what "
                       "Xero sent back (payments, statuses), newest first, in your time zone.")
    router.add("audit export", export_audit, usage="/xero audit export [same filters]", admin_only=True,
               example="/xero audit export since 30d", summary="The audit trail as a CSV file, in our DM.")

    @app.action(blocks.AUDIT_HOME_ACTION)
    async def audit_from_home(ack, context):
        await ack()
        click = BlockAction.of(context)
        if not await container.permissions.is_admin(click.team_id, click.user_id):
            answer = not_admin("/xero audit", await container.permissions.admins(click.team_id))
        else:
            answer = await audit_answer(container, click.team_id, click.user_id, [])
        try:
            await container.gateway.for_team(click.team_id).dm(click.user_id, answer)  # a Home tab has no response_url
        except SlackCallFailed:
            pass  # already logged by the gateway
