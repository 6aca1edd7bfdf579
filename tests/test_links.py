import asyncio

from services.links import LinkStore


async def test_linking_twice_keeps_one_link_and_claims_are_exclusive(storage):
    links = LinkStore(storage)
    await links.link("T", "client", 7, "t1", xero_id="c1")
    await links.link("T", "client", 7, "t1", xero_id="c1")
    assert len(await links.linked("T", "client", "7")) == 1
    wins = await asyncio.gather(*(links.claim("T", "purchase_order", "po-1", "t1", claimed_by="U") for _ in range(5)))
    assert wins.count(True) == 1
    assert (await links.by_xero_id("T", "client", "t1", "c1")).forecast_id == "7"
