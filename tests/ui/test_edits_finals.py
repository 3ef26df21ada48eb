"""Final messages through the edit scheduler: same windows as progress, served first."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Coroutine
from typing import Any

from bot.ui.edits import EditBudget, EditHandle, EditScheduler
from bot.ui.rate_window import Window
from tests.ui.test_edits import Claimed, Route, _pending, nothing

WINDOW = 0.2  # seconds: short windows, so a test waits for one to pass


def loose(**changes: float) -> EditBudget:
    """The unlimited budget with some scopes set (no channel reserve unless given)."""
    return dataclasses.replace(EditBudget.unlimited(), channel_reserve=0, **changes)


async def sent(
    pacer: EditScheduler | EditHandle, via_interaction: bool, channel: int | None
) -> None:
    """One request through ``pacer``'s slot, answered at once."""
    async with pacer.slot(via_interaction, channel):
        pass


async def started(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Start ``coro`` and let it run to its first wait: the loop runs ready tasks in order."""
    task = asyncio.create_task(coro)
    await asyncio.sleep(0)  # one turn of the loop, not a delay
    return task


def test_window_reserve_is_only_for_urgent_events() -> None:
    window = Window(2, 10.0, reserve=1)
    window.take(0.0)
    window.take(1.0)
    assert window.free_at(1.0) == 10.0  # ordinary events: the limit is reached
    assert window.free_at(1.0, urgent=True) == 1.0  # urgent ones may use the reserve
    window.take(1.0)
    assert window.free_at(2.0, urgent=True) == 10.0  # reserve spent: the oldest must leave
    assert window.free_at(2.0) == 11.0  # and ordinary events wait for two to leave
    window.fill(20.0)
    assert window.free_at(20.0) == 30.0 and window.free_at(20.0, urgent=True) == 20.0


async def test_a_final_gets_the_freed_slot_before_any_waiting_progress_edit() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=60.0))
    progress = scheduler.handle(nothing, Route(channel_id=1, via_interaction=False), name="b")
    now = asyncio.get_running_loop().time()
    scheduler._global.take(now)  # an edit just spent the global window
    _pending(scheduler, progress, "progress b")  # waiting for it since before the final
    final = await started(sent(scheduler, False, 2))
    assert scheduler.finals.waiting == 1

    chosen, next_due = scheduler.plan(now + 60.0)  # the instant the window frees

    assert chosen == []  # the slot went to the final
    assert scheduler.finals.granted == 1 and scheduler.finals.waiting == 0
    assert next_due is None  # the final's request is under way: only its end makes room
    await final
    answered = asyncio.get_running_loop().time()
    assert [h for h, _ in scheduler.plan(answered + 60.0)[0]] == [progress]
    await scheduler.close()


async def test_progress_and_finals_share_the_windows_live() -> None:
    """Without planning by hand: the scheduler's own loop and the gate's timer."""
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=WINDOW))
    order: list[str] = []
    shown = asyncio.Event()

    async def edit(content: str) -> None:
        order.append(content)
        shown.set()

    a = scheduler.handle(edit, Route(channel_id=1, via_interaction=False), name="a")
    b = scheduler.handle(edit, Route(channel_id=2, via_interaction=False), name="b")
    a.update("progress a")
    await shown.wait()  # the global window (one request) is now spent
    shown.clear()
    b.update("progress b")  # waits for the window
    await a.close()

    await sent(a, False, 1)  # a's final, asked after b's progress
    order.append("final a")
    await shown.wait()

    assert order == ["progress a", "final a", "progress b"]
    assert scheduler.finals.waited == 1 and scheduler.finals.granted == 1
    await scheduler.close()


async def test_a_final_waits_only_for_its_own_route() -> None:
    budget = loose(global_limit=2, global_period=60.0, channel_limit=1, channel_period=60.0)
    scheduler = EditScheduler(0.0, budget)
    handle = scheduler.handle(nothing, Route(channel_id=5, via_interaction=False), name="a")
    now = asyncio.get_running_loop().time()
    scheduler._channel(5).take(now)  # progress spent channel 5

    # Another channel, and the interaction webhook (exempt from the global limit): at once.
    await sent(handle, False, 6)
    await sent(handle, True, 5)
    await sent(handle, True, 5)
    assert scheduler.finals.granted == 3 and scheduler.finals.waited == 0

    # Channel 5 is full, so its final waits; it must not hold up the others behind it.
    stuck = await started(sent(handle, False, 5))
    assert scheduler.finals.waiting == 1
    await sent(handle, False, 7)
    assert scheduler.finals.granted == 4 and not stuck.done()
    # The global window (2) is now spent by finals: a progress edit elsewhere waits too.
    other = scheduler.handle(nothing, Route(channel_id=8, via_interaction=False), name="b")
    _pending(scheduler, other, "x")
    chosen, next_due = scheduler.plan(now)
    assert chosen == [] and next_due is not None and next_due > now + 59.0
    stuck.cancel()
    await scheduler.close()


async def test_the_channel_reserve_takes_finals_when_progress_filled_the_channel() -> None:
    budget = dataclasses.replace(loose(channel_limit=2, channel_period=60.0), channel_reserve=1)
    scheduler = EditScheduler(0.0, budget)
    handle = scheduler.handle(nothing, Route(channel_id=5, via_interaction=False), name="a")
    now = asyncio.get_running_loop().time()
    scheduler._channel(5).take(now)
    scheduler._channel(5).take(now)  # progress used its whole budget in the channel

    await sent(handle, False, 5)
    assert scheduler.finals.waited == 0
    _pending(scheduler, handle, "progress")
    chosen, next_due = scheduler.plan(now)
    assert chosen == [] and next_due is not None and next_due > now + 59.0
    # Taken over: the channel counts as spent by the dead process's progress, the
    # reserve still takes a final at once; its token window keeps its one edit.
    claimed = scheduler.handle(nothing, Claimed(channel_id=9, via_interaction=False), name="c")
    await sent(claimed, False, 9)
    await sent(claimed, True, 9)
    assert scheduler.finals.waited == 0 and scheduler.finals.granted == 3
    await scheduler.close()


async def test_waiting_finals_go_oldest_first_and_a_cancelled_one_takes_nothing() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=WINDOW))
    await sent(scheduler, False, None)  # spends the window
    order: list[str] = []

    async def final(name: str) -> None:
        await sent(scheduler, False, None)
        order.append(name)

    first = await started(final("first"))
    second = await started(final("second"))
    third = await started(final("third"))
    assert scheduler.finals.waiting == 3
    second.cancel()
    await asyncio.gather(first, third)

    assert order == ["first", "third"]
    assert second.cancelled() and scheduler.finals.granted == 3
    assert scheduler.finals.waiting == 0


async def test_a_final_cancelled_as_it_is_granted_gives_its_places_back() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=WINDOW))
    await sent(scheduler, False, 7)  # spends the global window
    final = await started(sent(scheduler, False, 7))
    assert scheduler.finals.waiting == 1
    global_window, channel_window = scheduler._global, scheduler._channel(7)
    # The window frees and the gate grants the final; in the same turn of the loop,
    # before the final's task runs again, its caller is cancelled.
    loop = asyncio.get_running_loop()
    scheduler.finals.serve(loop.time() + WINDOW)
    assert scheduler.finals.waiting == 0 and global_window.inflight == 1
    final.cancel()
    await asyncio.gather(final, return_exceptions=True)

    assert final.cancelled()
    assert global_window.inflight == 0 and channel_window.inflight == 0  # nothing stranded
    await sent(scheduler, False, 7)  # and the next request still gets through


async def test_a_closed_scheduler_still_paces_finals_and_strands_none() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=WINDOW))
    handle = scheduler.handle(nothing, Route(channel_id=5, via_interaction=False), name="a")
    await sent(handle, False, 5)
    waiting = await started(sent(handle, False, 5))
    assert scheduler.finals.waiting == 1

    await scheduler.close()  # a final waiting at shutdown is not dropped
    await waiting
    await sent(handle, False, 5)  # nor is one asked after: it waits for its window

    assert scheduler.finals.granted == 3 and scheduler.finals.waited == 2
    handle.update("progress")  # progress edits, on the other hand, are over
    assert scheduler._pending == {}


async def test_a_final_holds_its_place_from_before_it_leaves_until_a_window_after_its_answer() -> (
    None
):
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=60.0))
    progress = scheduler.handle(nothing, Route(channel_id=1, via_interaction=False), name="b")
    loop = asyncio.get_running_loop()
    async with scheduler.slot(False, 2):
        # Under way (say an upload the busy loop sends late): it counts however long it takes.
        later = loop.time() + 120.0
        assert scheduler._global.free_at(later, urgent=True) == math.inf
        _pending(scheduler, progress, "progress b")
        assert scheduler.plan(later) == ([], None)  # only the final's end makes room
        queued = await started(sent(scheduler, False, 3))
        assert scheduler.finals.waiting == 1
    answered = loop.time()
    assert scheduler.finals.waiting == 1  # the slot is still counted, from the answer on
    assert answered + 59.0 < scheduler._global.free_at(answered, urgent=True) <= answered + 60.0
    queued.cancel()
    await scheduler.close()
