"""The progress-edit scheduler: coalescing, budgets, fairness, stretching, closing."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import aiohttp
import discord
import pytest

from bot.ui import edit_handle as handle_module
from bot.ui.edits import EditBudget, EditHandle, EditScheduler
from bot.ui.rate_window import Window


@dataclass
class Route:
    """A stand-in for JobMessenger's routing attributes."""

    channel_id: int = 1
    via_interaction: bool = True


async def nothing(content: str) -> None:
    """An edit that succeeds and records nothing (for planning tests)."""


def loose(**changes: float) -> EditBudget:
    """The unlimited budget with some scopes set (names as in EditBudget)."""
    return dataclasses.replace(EditBudget.unlimited(), **changes)


def _pending(scheduler: EditScheduler, handle: EditHandle, content: str) -> None:
    """Give ``handle`` new content without starting the scheduler's loop (planning tests)."""
    handle.pending = content
    scheduler._open.add(handle)
    scheduler._pending[handle] = None


def _answered(chosen: list[tuple[EditHandle, str]], at: float) -> None:
    """Discord answered the edits ``chosen`` at ``at`` (what the end of their sending does)."""
    for handle, _ in chosen:
        for window in handle.taken:
            window.end(at)
        handle.taken = []


def test_window_allows_limit_per_sliding_period() -> None:
    window = Window(2, 10.0)
    assert window.free_at(0.0) == 0.0
    window.take(0.0)
    window.take(1.0)
    assert window.free_at(1.0) == 10.0  # the oldest of the two leaves the window at 10
    window.take(10.0)
    assert window.free_at(10.0) == 11.0
    with pytest.raises(ValueError):
        Window(0, 1.0)


async def test_first_update_immediate_then_coalesced_to_newest() -> None:
    sent: list[str] = []
    first, done = asyncio.Event(), asyncio.Event()

    async def edit(content: str) -> None:
        sent.append(content)
        first.set()
        if content == "99":
            done.set()

    scheduler = EditScheduler(0.05, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job 1")
    handle.update("0")
    await first.wait()
    for i in range(1, 100):  # a burst: only the newest must be shown next
        handle.update(str(i))
    await asyncio.wait_for(done.wait(), 5)
    assert sent[0] == "0" and sent[-1] == "99"
    assert len(sent) <= 3  # 100 updates became at most a few edits
    assert handle.edits == len(sent)
    await scheduler.close()


async def test_identical_content_not_resent_and_failure_stops_edits() -> None:
    calls: list[str] = []
    first, failed = asyncio.Event(), asyncio.Event()

    async def edit(content: str) -> None:
        calls.append(content)
        first.set()
        if content == "boom":
            failed.set()
            raise RuntimeError("404 Unknown Message")

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job 2")
    handle.update("a")
    await first.wait()
    handle.update("a")
    handle.update("boom")
    await failed.wait()
    task = handle.inflight
    assert task is not None
    await asyncio.wait({task})  # the failing edit ends; its done callback frees the handle
    assert handle.inflight is None
    assert handle.failed
    handle.update("after")  # ignored once an edit failed
    await scheduler.close()
    assert calls == ["a", "boom"]


def test_interaction_token_budget_limits_each_message() -> None:
    scheduler = EditScheduler(0.0, loose(token_limit=2, token_period=10.0))
    handle = scheduler.handle(nothing, Route(), name="job")
    sent = []
    for t in range(5):
        _pending(scheduler, handle, f"state {t}")
        chosen, next_due = scheduler.plan(float(t))
        _answered(chosen, float(t))
        sent += [content for _, content in chosen]
    assert sent == ["state 0", "state 1"]  # then the token's window is full until t=10
    assert next_due == 10.0


def test_global_budget_is_shared_fairly_oldest_shown_first() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=2, global_period=1.0))
    bot_route = Route(via_interaction=False)
    a, b, c = (scheduler.handle(nothing, bot_route, name=n) for n in "abc")
    for handle in (a, b, c):
        _pending(scheduler, handle, "x1")
    chosen, _ = scheduler.plan(0.0)
    assert [h.name for h, _ in chosen] == ["a", "b"]
    _answered(chosen, 0.0)
    for handle in (a, b):
        _pending(scheduler, handle, "x2")
    assert scheduler.plan(0.5)[0] == []  # the global window is full
    chosen, _ = scheduler.plan(1.0)
    assert chosen[0][0].name == "c"  # never shown: goes first


def test_interaction_edits_do_not_spend_the_global_budget() -> None:
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=100.0))
    handles = [scheduler.handle(nothing, Route(), name=str(i)) for i in range(5)]
    for handle in handles:
        _pending(scheduler, handle, "x")
    assert len(scheduler.plan(0.0)[0]) == 5


def test_interval_stretches_smoothly_with_load() -> None:
    scheduler = EditScheduler(2.0, EditBudget())
    for i in range(400):
        scheduler._open.add(scheduler.handle(nothing, Route(channel_id=i), name=str(i)))
    assert scheduler.interval_for(True, None, 0.0) == pytest.approx(4.0)  # 400 / 100 per s
    tokens = [scheduler.handle(nothing, Route(channel_id=7, via_interaction=False), name="b")]
    scheduler._open.update(tokens)
    scheduler._loads_at = -float("inf")
    # One bot-token message: the interval, bounded by its channel's 24 per minute.
    assert scheduler.interval_for(False, 7, 1.0) == pytest.approx(2.5)
    for i in range(399):
        scheduler._open.add(
            scheduler.handle(nothing, Route(channel_id=i, via_interaction=False), name=str(i))
        )
    scheduler._loads_at = -float("inf")
    assert scheduler.interval_for(False, 7, 2.0) == pytest.approx(10.0)  # 400 / 40 per s


def test_channel_budget_applies_to_bot_token_edits() -> None:
    scheduler = EditScheduler(0.0, loose(channel_limit=1, channel_period=60.0))
    same = Route(channel_id=5, via_interaction=False)
    other = Route(channel_id=6, via_interaction=False)
    routes = ((same, "a"), (same, "b"), (other, "c"))
    a, b, c = (scheduler.handle(nothing, r, name=n) for r, n in routes)
    for handle in (a, b, c):
        _pending(scheduler, handle, "x")
    chosen, next_due = scheduler.plan(0.0)
    assert sorted(h.name for h, _ in chosen) == ["a", "c"]
    assert next_due is None  # a's edit is under way: counted until a window after its answer
    _answered(chosen, 0.0)
    assert scheduler.plan(0.0) == ([], 60.0)


async def test_route_is_read_at_send_time() -> None:
    route = Route()
    scheduler = EditScheduler(0.0, loose(global_limit=1, global_period=100.0))
    handle = scheduler.handle(nothing, route, name="job")
    assert handle.route() == (True, 1)
    route.via_interaction = False  # the token ran out: bot-token edits from now on
    assert handle.route() == (False, 1)
    _pending(scheduler, handle, "one")
    assert len(scheduler.plan(0.0)[0]) == 1
    _pending(scheduler, handle, "two")
    assert scheduler.plan(1.0)[0] == []  # the bot-token budget (1 per 100 s) is spent


async def test_close_lets_the_edit_in_flight_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    sent: list[str] = []

    async def slow(content: str) -> None:
        started.set()
        await release.wait()  # cancelling here would stall discord.py's bucket
        sent.append(content)

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(slow, name="job")
    handle.update("first")
    await started.wait()
    handle.update("second")
    closing = asyncio.create_task(handle.close())
    await asyncio.sleep(0)
    assert not closing.done()  # it waits for the edit under way...
    release.set()
    await closing
    assert sent == ["first"] and handle.edits == 1  # ...and drops the pending one
    await scheduler.close()


async def test_close_cancels_the_edit_in_flight_and_drops_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handle_module, "CLOSE_GRACE", 0.05)  # an edit that never ends
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(content: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(slow, name="job")
    handle.update("first")
    await started.wait()
    handle.update("second")
    await handle.close()
    assert cancelled.is_set() and handle.inflight is None and handle.pending is None
    assert handle.edits == 0
    await scheduler.close()
    handle.update("after close")  # a closed scheduler sends nothing more
    assert scheduler.sent == 1


class _Response:
    """What discord.HTTPException reads from an aiohttp response: status and reason."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "test"


def _http_error(status: int) -> discord.HTTPException:
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    if status >= 500:
        kind = discord.DiscordServerError
    return kind(_Response(status), {"message": "test", "code": 0})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        _http_error(500),
        _http_error(503),
        aiohttp.ClientConnectionError("connection reset"),
        TimeoutError(),
    ],
    ids=["500", "503", "connection", "timeout"],
)
async def test_a_transient_failure_is_retried_and_later_updates_get_through(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handle_module, "RETRY_BACKOFF", 0.01)
    calls: list[str] = []
    shown: dict[str, asyncio.Event] = {"first": asyncio.Event(), "later": asyncio.Event()}

    async def edit(content: str) -> None:
        calls.append(content)
        if len(calls) == 1:
            raise error
        shown[content].set()

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job")
    handle.update("first")
    await asyncio.wait_for(shown["first"].wait(), 5)  # the failed content, on the retry
    handle.update("later")
    await asyncio.wait_for(shown["later"].wait(), 5)
    assert calls == ["first", "first", "later"]
    assert not handle.failed and handle.failures == 0
    await scheduler.close()


async def test_the_retry_sends_the_newest_content_not_the_failed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handle_module, "RETRY_BACKOFF", 0.01)
    calls: list[str] = []
    started, release, newest = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def edit(content: str) -> None:
        calls.append(content)
        if content == "old":
            started.set()
            await release.wait()
            raise _http_error(502)
        newest.set()

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job")
    handle.update("old")
    await asyncio.wait_for(started.wait(), 5)
    handle.update("new")  # arrives while the failing edit is in flight
    release.set()
    await asyncio.wait_for(newest.wait(), 5)
    assert calls == ["old", "new"]
    await scheduler.close()


async def _failed_edit_done(handle: EditHandle, called: asyncio.Event) -> None:
    """Wait until ``handle``'s failing edit has ended and its done callback ran."""
    await asyncio.wait_for(called.wait(), 5)
    task = handle.inflight
    if task is not None:  # else it ended before this waiter resumed
        await asyncio.wait({task})
    assert handle.inflight is None


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_discord_saying_the_message_is_out_of_reach_stops_its_edits(status: int) -> None:
    calls: list[str] = []
    called = asyncio.Event()

    async def edit(content: str) -> None:
        calls.append(content)
        called.set()
        raise _http_error(status)

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job")
    handle.update("first")
    await _failed_edit_done(handle, called)
    assert handle.failed
    handle.update("second")  # ignored: the message cannot be edited any more
    assert handle.pending is None and scheduler._pending == {}
    await scheduler.close()
    assert calls == ["first"]


async def test_a_handle_closed_during_the_backoff_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handle_module, "RETRY_BACKOFF", 30.0)  # never reached
    calls: list[str] = []
    called = asyncio.Event()

    async def edit(content: str) -> None:
        calls.append(content)
        called.set()
        raise _http_error(500)

    scheduler = EditScheduler(0.0, EditBudget.unlimited())
    handle = scheduler.handle(edit, name="job")
    handle.update("first")
    await _failed_edit_done(handle, called)
    assert not handle.failed and handle.pending == "first"  # waiting for its retry
    assert handle.retry_at > asyncio.get_running_loop().time()
    await handle.close()  # the final message follows: no retry may overwrite it
    assert handle.pending is None and scheduler._pending == {}
    await scheduler.close()
    assert calls == ["first"]


@dataclass
class Claimed(Route):
    """A message taken over from a process that died (JobMessenger's ``claimed``)."""

    claimed: bool = True


def test_window_fill_counts_a_budget_spent_but_for_what_it_leaves() -> None:
    window = Window(3, 10.0)
    window.fill(5.0, leave=1)
    assert window.free_at(5.0) == 5.0  # one left
    window.take(5.0)
    assert window.free_at(6.0) == 15.0
    window.fill(20.0)
    assert window.free_at(20.0) == 30.0  # older events no longer matter: full from now


async def test_taken_over_channel_takes_no_bot_token_edit_for_one_window() -> None:
    scheduler = EditScheduler(0.0, loose(channel_limit=3, channel_period=60.0))
    claimed = scheduler.handle(nothing, Claimed(channel_id=5, via_interaction=False), name="a")
    now = asyncio.get_running_loop().time()  # the takeover was just before
    # Another message in that channel, this process's own: the channel's budget is shared.
    own = scheduler.handle(nothing, Route(channel_id=5, via_interaction=False), name="b")
    elsewhere = scheduler.handle(nothing, Route(channel_id=6, via_interaction=False), name="c")
    for handle in (claimed, own, elsewhere):
        _pending(scheduler, handle, "x")
    chosen, next_due = scheduler.plan(now)
    assert [h.name for h, _ in chosen] == ["c"]
    assert next_due is not None and now + 59.0 < next_due <= now + 60.0
    chosen, _ = scheduler.plan(now + 60.0)
    assert sorted(h.name for h, _ in chosen) == ["a", "b"]


async def test_taken_over_token_allows_one_edit_then_waits_a_window() -> None:
    budget = loose(token_limit=4, token_period=2.0, channel_limit=3, channel_period=60.0)
    scheduler = EditScheduler(0.0, budget)
    handle = scheduler.handle(nothing, Claimed(channel_id=5), name="a")
    fresh = scheduler.handle(nothing, Route(channel_id=5), name="b")
    now = asyncio.get_running_loop().time()  # the takeover was just before
    for t in (0.0, 0.5, 1.0):
        for h in (handle, fresh):
            _pending(scheduler, h, f"state {t}")
        chosen, _ = scheduler.plan(now + t)
        sent = sorted(h.name for h, _ in chosen)
        # The takeover's first progress goes at once; then the dead process's window ends.
        assert sent == (["a", "b"] if t == 0.0 else ["b"])
    _pending(scheduler, handle, "later")
    assert [h.name for h, _ in scheduler.plan(now + 2.0)[0]] == ["a"]
    # A channel of a taken-over message is spent for its bot-token edits, not its token's.
    assert now + 59.0 < scheduler._channel(5).free_at(now) <= now + 60.0
