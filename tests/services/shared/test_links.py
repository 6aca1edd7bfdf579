import asyncio

from services.shared.links import LinkStore


async def test_linking_twice_keeps_one_link_and_claims_are_exclusive(storage):
    links = LinkStore(storage)
    await links.link("T", "client", 7, "t1", xero_id="c1")
    await links.link("T", "client", 7, "t1", xero_id="c1")
    assert len(await links.linked("T", "client", "7")) == 1
    wins = await asyncio.gather(*(links.claim("T", "purchase_order", "po-1", "t1", claimed_by="U") for _ in range(5)))
    assert wins.count(True) == 1
    assert (await links.by_xero_id("T", "client", "t1", "c1")).forecast_id == "7"


async def test_a_claim_expires_and_the_job_that_made_it_takes_it_back_at_once(storage):
    from services.shared.links import claim_holder

    links = LinkStore(storage, claim_seconds=60)

    async def claim_as(holder):
        claim_holder.set(holder)
        return await links.claim("T", "client", "contact:c1", "t1", claimed_by="U")

    assert await asyncio.create_task(claim_as("job-1"))
    assert not await asyncio.create_task(claim_as("job-2"))  # held, not expired
    assert await asyncio.create_task(claim_as("job-1"))  # the same import job, run again after a crash
    await storage.links.update_one({"forecast_id": "contact:c1"}, {"$set": {"claim_until": 0.0}})
    assert await asyncio.create_task(claim_as("job-2"))  # expired: anyone takes it over
