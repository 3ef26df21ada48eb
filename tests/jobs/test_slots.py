"""The FIFO slot queue: limits, order, positions, cancellation."""

import asyncio

from bot.jobs.slots import SlotQueue


async def test_fifo_order_and_positions() -> None:
    changes: list[int] = []
    two_waiting = asyncio.Event()

    def changed() -> None:
        changes.append(queue.waiting)
        if queue.waiting == 2:
            two_waiting.set()

    queue = SlotQueue(1, on_change=changed)
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abc"}
    entered = {name: asyncio.Event() for name in "abc"}

    async def job(name: str) -> None:
        async with queue.slot(name):
            order.append(name)
            entered[name].set()
            await release[name].wait()

    tasks = [asyncio.create_task(job(n)) for n in "abc"]
    await entered["a"].wait()
    await two_waiting.wait()
    assert queue.position("b") == 1 and queue.position("c") == 2 and queue.position("a") is None
    release["a"].set()
    await entered["b"].wait()
    assert queue.position("c") == 1
    release["b"].set()
    release["c"].set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert queue.running == 0 and queue.waiting == 0
    assert changes  # waiters were told positions moved


async def test_cancelled_waiter_leaves_queue_and_frees_nothing_twice() -> None:
    two_waiting = asyncio.Event()
    queue = SlotQueue(1, on_change=lambda: queue.waiting == 2 and two_waiting.set())
    hold = asyncio.Event()
    inside = asyncio.Event()

    async def holder() -> None:
        async with queue.slot("h"):
            inside.set()
            await hold.wait()

    async def waiter(key: str) -> None:
        async with queue.slot(key):
            pass

    h = asyncio.create_task(holder())
    await inside.wait()
    w1 = asyncio.create_task(waiter("w1"))
    w2 = asyncio.create_task(waiter("w2"))
    await two_waiting.wait()
    w1.cancel()
    await asyncio.gather(w1, return_exceptions=True)
    assert queue.position("w2") == 1
    hold.set()
    await asyncio.gather(h, w2)
    assert queue.running == 0 and queue.waiting == 0


async def test_limit_respected_under_load() -> None:
    queue = SlotQueue(3)
    active = 0
    peak = 0

    async def job(i: int) -> None:
        nonlocal active, peak
        async with queue.slot(i):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0)
            active -= 1

    await asyncio.gather(*(job(i) for i in range(50)))
    assert peak == 3
    assert queue.running == 0
