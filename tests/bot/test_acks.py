"""Work after an ack waits until the ack has left (so acks go first under load), but never past Slack's 3 s."""

from __future__ import annotations

import asyncio

from bot import acks


async def test_work_after_the_ack_starts_once_the_ack_has_left():
    sent = asyncio.Event()
    order: list[str] = []

    async def listener():
        await acks.after_ack({acks.ACK_SENT: sent})
        order.append("work")

    task = asyncio.create_task(listener())
    await asyncio.sleep(0.01)
    order.append("ack sent")
    sent.set()
    await task
    assert order == ["ack sent", "work"]


async def test_without_a_web_handler_nothing_waits():
    await asyncio.wait_for(acks.after_ack({}), 0.1)
    await asyncio.wait_for(acks.after_ack(None), 0.1)


async def test_a_lost_signal_holds_work_no_longer_than_slacks_ack_deadline(monkeypatch):
    monkeypatch.setattr(acks, "ACK_WAIT_LIMIT", 0.05)
    await asyncio.wait_for(acks.after_ack({acks.ACK_SENT: asyncio.Event()}), 1)
