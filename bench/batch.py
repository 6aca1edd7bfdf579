"""Month-end batch: 1,000 Forecast invoices into 5 Xero organisations through the batch exporter, against the
sandbox's Xero stand-in (its own process) with Xero's real limits time-scaled.

Printed: Xero calls per invoice, duplicates, 429s (answered and left unhandled), a resumed run (creates
nothing), and the pacing at the limit: with more calls than a minute allows, how close to Xero's ceiling
(60 at once, then 60 a minute per organisation) the client runs without meeting a 429.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import aiohttp

from bench.ack import HOST, free_port, start_server
from services.exports.writer import BatchExporter, BatchItem, BatchSettings
from services.forecast import ForecastCustomer, ForecastInvoice
from services.platform.storage import Storage
from services.shared.links import LinkStore
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import XeroRateLimited
from services.xero.limiter import TenantLimiter
from services.xero.reference import OrgReferenceStore

# A Xero minute lasts 5 s: a local call's latency (tens of ms on this machine) is then about as small a share
# of the minute as a real call's few hundred ms is of Xero's real minute.
TIME_SCALE = 12.0
INVOICES = 1000
CLIENTS_PER_ORG = 40
PACING_CALLS_PER_ORG = 180  # three minutes' worth: two past the first minute's 60
PER_MINUTE = 60
MARGIN = 0.01  # seconds added to our minute: a call can reach Xero a little after it left


class StaticToken:
    def __init__(self, token: str):
        self.token = token

    async def access_token(self, token_set_id: str) -> str:
        return self.token


@dataclass
class XeroServer:
    port: int
    token: str
    tenants: dict[str, dict]
    process: object

    async def stats(self, session: aiohttp.ClientSession) -> dict:
        async with session.get(f"http://{HOST}:{self.port}/bench/stats") as response:
            return await response.json()


def month_end_items(tenants: dict[str, dict]) -> dict[str, list[BatchItem]]:
    """200 invoices per organisation, in its currency, with 0% lines and its sales tax rate."""
    per_org = INVOICES // len(tenants)
    batches: dict[str, list[BatchItem]] = {}
    for org_index, (tenant_id, org) in enumerate(sorted(tenants.items())):
        items = []
        for n in range(per_org):
            client = org_index * 1000 + n % CLIENTS_PER_ORG
            invoice = ForecastInvoice.model_validate({
                "id": org_index * 100_000 + n, "invoice_reference": f"ME-{org_index}{n:04d}",
                "currency": org["currency"], "client_id": client, "name": f"November {n}",
                "created_date": "2026-11-30", "due_date": "2026-12-30",
                "entries": [{"name": "Design", "quantity": 1 + n % 9, "unit_price": 95.5, "tax": org["tax"]},
                            {"name": "Expenses", "quantity": 1, "unit_price": 12.4, "tax": 0}]})
            items.append(BatchItem(invoice, ForecastCustomer(id=client, name=f"Bench client {client}")))
        batches[tenant_id] = items
    return batches


async def export_all(exporter: BatchExporter, batches: dict[str, list[BatchItem]], batch_id: str,
                     generation: int) -> tuple[Counter, int]:
    """Every organisation at once; outcomes, and how many 429s reached us as errors."""
    unhandled = 0

    async def one(tenant_id: str, items: list[BatchItem]):
        nonlocal unhandled
        try:
            return await exporter.export("TBENCH", batch_id, TenantAuth(tenant_id, "bench"), items,
                                         BatchSettings(status="AUTHORISED"), generation=generation,
                                         connected_tenant_ids=set(batches))
        except XeroRateLimited:
            unhandled += 1
            return []

    results = await asyncio.gather(*(one(t, items) for t, items in batches.items()))
    return Counter(o.outcome for outcomes in results for o in outcomes), unhandled


async def pacing(xero: XeroClient, tenants: list[str]) -> tuple[float, int]:
    """More lookups than a minute allows, per organisation; the share of the ceiling reached."""
    unhandled = 0

    async def org(tenant_id: str) -> float:
        nonlocal unhandled
        auth = TenantAuth(tenant_id, "bench")
        started = time.perf_counter()

        async def lookup(n: int) -> None:
            nonlocal unhandled
            try:
                await xero.find_invoices_by_numbers(auth, [f"CHECK-{n}-{i}" for i in range(50)])
            except XeroRateLimited:
                unhandled += 1

        await asyncio.gather(*(lookup(n) for n in range(PACING_CALLS_PER_ORG)))
        elapsed = time.perf_counter() - started
        minute = 60 / TIME_SCALE
        ceiling = PER_MINUTE * (1 + elapsed / minute)  # 60 at once, then 60 a minute
        return PACING_CALLS_PER_ORG / ceiling

    shares = await asyncio.gather(*(org(t) for t in tenants))
    return min(shares), unhandled


async def run(storage_uri: str) -> bool:
    port = free_port()
    server = await start_server("xero", TIME_SCALE, port=port)
    ready = json.loads(server.ready)
    xero_server = XeroServer(port, ready["token"], ready["tenants"], server.process)
    storage = Storage(storage_uri, f"bench_batch_{uuid.uuid4().hex[:8]}")
    await storage.connect()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            return await _measure(session, storage, xero_server)
    finally:
        await storage.close()
        await server.stop()


async def _measure(session: aiohttp.ClientSession, storage: Storage, server: XeroServer) -> bool:
    limiter = TenantLimiter(time_scale=TIME_SCALE, margin=MARGIN)
    xero = XeroClient(session, f"http://{HOST}:{server.port}/xero/api", StaticToken(server.token), limiter=limiter)
    exporter = BatchExporter(xero, LinkStore(storage), OrgReferenceStore(storage, xero))
    batches = month_end_items(server.tenants)

    before = await server.stats(session)
    started = time.perf_counter()
    outcomes, unhandled = await export_all(exporter, batches, "month-end", generation=1)
    elapsed = time.perf_counter() - started
    after = await server.stats(session)
    calls = _calls(after) - _calls(before)

    resumed, unhandled_again = await export_all(exporter, batches, "month-end", generation=2)
    after_resume = await server.stats(session)
    resume_calls = _calls(after_resume) - _calls(after)

    await asyncio.sleep(60 / TIME_SCALE)  # a fresh Xero minute, so the ceiling counts only the pacing calls
    share, pacing_unhandled = await pacing(xero, list(server.tenants))
    final = await server.stats(session)

    invoices = sum(len(items) for items in batches.values())
    per_invoice = calls / invoices
    answered_429 = int(final["calls_by_status"].get("429", 0))
    left_unhandled = unhandled + unhandled_again + pacing_unhandled
    checks = {
        "calls": per_invoice <= 0.1, "share": share >= 0.9, "duplicates": final["duplicates"] == 0,
        "429": left_unhandled == 0, "created": outcomes.get("created", 0) == invoices,
        "resume": resumed.get("created", 0) == 0,
    }
    minute = 60 / TIME_SCALE
    print(f"month-end batch: {invoices:,} invoices into {len(batches)} organisations "
          f"(sandbox Xero, limits time-scaled x{TIME_SCALE:g}: a Xero minute lasts {minute:g} s)")
    print(f"  outcomes                 {dict(outcomes)}   in {elapsed:.2f} s")
    print(f"  Xero calls per invoice   {per_invoice:6.3f}   ({calls} calls)        target <= 0.100  "
          f"{_ok(checks['calls'])}")
    print(f"  duplicates in Xero       {final['duplicates']:6d}                       target 0        "
          f"{_ok(checks['duplicates'])}")
    print(f"  resumed run              {resumed.get('created', 0):6d} created, {resume_calls} Xero calls"
          f"{'':5} target 0 created {_ok(checks['resume'])}")
    print(f"  pacing at the limit      {share:6.1%} of the ceiling (60 at once, then 60 a minute per "
          f"organisation; {PACING_CALLS_PER_ORG} calls each)  target >= 90%  {_ok(checks['share'])}")
    print(f"  429s answered by Xero    {answered_429:6d}   left unhandled {left_unhandled}"
          f"{'':14}target 0        {_ok(checks['429'])}")
    if final.get("spec_violations"):
        print(f"  requests outside Xero's spec: {final['spec_violations']}")
    return all(checks.values())


def _calls(stats: dict) -> int:
    return sum(int(v) for v in stats["calls_by_status"].values())


def _ok(ok: bool) -> str:
    return "ok" if ok else "MISSED"
