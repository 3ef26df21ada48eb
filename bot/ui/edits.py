"""One scheduler for every job's progress edits, inside Discord's rate limits at any load.

Providers report progress far faster than Discord lets a bot edit messages: about
5 edits per 2 s per interaction token, 50 requests per second per bot for
everything sent with the bot token (interaction webhooks are exempt), and about
30 per minute per channel. A per-message throttle cannot see the global or
channel budgets, so with hundreds of jobs it hits 429s. The :class:`EditScheduler`
sees every message at once:

- each message keeps only its newest content (intermediate states are dropped);
- a message is edited at most every ``interval`` seconds, and that interval
  stretches smoothly with load: ``max(interval, open messages / budget rate)``
  for the budget the message's route draws on;
- whenever a budget is short, the message shown longest ago goes first, so
  every message keeps being refreshed;
- sliding windows keep each interaction token, the global bot-token budget and
  each channel under :class:`EditBudget` (below Discord's limits, with headroom
  for the bot's other requests); each request counts from before it leaves
  until one window after its answer, so however late a busy process sends it,
  Discord never sees more in one of its windows.

Discord's global limit is per bot token, not per process: shard clusters
(``SHARD_COUNT``/``SHARD_IDS``) each get the share of the global budget that
their share of the shards gives (:meth:`EditBudget.shared`, applied when the
settings are read), so together they stay under it. Interaction-token edits are
not subject to the global limit, and a channel's edits all come from the one
process holding its guild's shard, so those budgets are never divided.

The route (interaction webhook, or bot token in a channel) is read from the
job's messenger at send time: it changes when the 15-minute token runs out.

A job's other requests on its message (the final message, a re-post after the
message was deleted, the DM fallback) draw on the same windows through
:meth:`EditHandle.slot`, ahead of every progress edit (:mod:`bot.ui.finals`):
a final waits only for its own route's budget (at most one window, behind
finals that asked before it), never behind progress. Channel windows keep
``EditBudget.channel_reserve`` requests that only these may use.

A job taken over from a process that died (its source's ``claimed`` is true)
arrives with budgets this process never saw that one spend. Its channel is
counted as spent for one channel window (no bot-token progress edit there
until it passes: the dead process's edits, at most the channel budget, are
then out of Discord's window too, and final messages keep the channel's
reserve), and its token window as spent but for one edit, so the first
progress after a takeover is not delayed: Discord allows one more per token
than the budget, and the dead process's edits were within it.

Where it lives: :class:`EditScheduler` (planning, budgets, :meth:`~EditScheduler.slot`)
here; one message's side, :class:`EditHandle` (newest content, retries,
``close()``) and :class:`RouteSource`, in :mod:`bot.ui.edit_handle` (re-exported
here); the windows in :mod:`bot.ui.rate_window`; finals' queue in :mod:`bot.ui.finals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator

from bot.config import EditBudget
from bot.ui.edit_handle import Edit, EditHandle, RouteSource
from bot.ui.finals import FinalGate
from bot.ui.rate_window import Window

__all__ = ["Edit", "EditBudget", "EditHandle", "EditScheduler", "RouteSource"]

LOAD_REFRESH = 1.0  # seconds between recounts of open messages per route
MAX_TICK = 0.05  # the scheduler wakes at most every this many seconds (batching)


def _claimed(source: RouteSource | None) -> bool:
    """Whether another process edited ``source``'s message until it died (``claimed``)."""
    return bool(getattr(source, "claimed", False))


class EditScheduler:
    """Sends the progress edits of every job; see the module docstring."""

    def __init__(self, interval: float, budget: EditBudget | None = None) -> None:
        self.interval = interval
        self.budget = budget or EditBudget()
        b = self.budget
        self._global = Window(b.global_limit, b.global_period)
        self._webhooks = Window(b.webhook_limit, b.webhook_period)
        self._channels: dict[int, Window] = {}
        self.finals = FinalGate()  # final messages and fallbacks: ahead of progress
        self._open: set[EditHandle] = set()
        self._pending: dict[EditHandle, None] = {}  # insertion-ordered set
        self._inflight = 0
        self._loads: tuple[int, int, dict[int, int]] = (0, 0, {})
        self._loads_at = -float("inf")
        self._tick = min(MAX_TICK, interval / 4)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent = 0  # edits started, all routes (for metrics and the bench)

    def handle(self, edit: Edit, source: RouteSource | None = None, *, name: str) -> EditHandle:
        """A handle for one message, edited through ``edit``, routed as ``source`` says.

        A ``source`` whose ``claimed`` is true was taken over: see :meth:`taken_over`.
        """
        handle = EditHandle(self, edit, source, name)
        if source is not None and _claimed(source):
            self.taken_over(handle, source.channel_id)
        return handle

    def taken_over(self, handle: EditHandle, channel: int) -> None:
        """Assume another process spent ``handle``'s budgets just now (see the module docstring).

        Its token window keeps room for one edit; ``channel`` takes no progress
        edit for one channel window from now.
        """
        now = asyncio.get_running_loop().time()
        handle.window.fill(now, leave=1)
        self._channel(channel).fill(now)

    # ------------------------------------------------------------ handle side

    def wants(self, handle: EditHandle) -> None:
        """``handle`` has new content to show."""
        if self._closed:
            return
        self._open.add(handle)
        if handle not in self._pending:
            self._pending[handle] = None
            self.wake()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="edit-scheduler")

    def forget(self, handle: EditHandle) -> None:
        """``handle`` was closed: no more edits for it (until it is updated again)."""
        self._open.discard(handle)
        self._pending.pop(handle, None)

    def wake(self) -> None:
        """Re-plan soon (new content, or an edit finished)."""
        self._wake.set()

    # ------------------------------------------------------------ final messages

    @contextlib.asynccontextmanager
    async def slot(
        self, via_interaction: bool, channel: int | None, *, token: Window | None = None
    ) -> AsyncIterator[None]:
        """Wait until one request on this route fits its windows; hold its place while it runs.

        For a job's requests outside its progress edits: the final message
        above all; the request is sent inside the ``async with``. Through the
        interaction webhook it counts against ``token`` (the message's token
        window) and the webhook cap; with the bot token, the global window and
        ``channel``'s, where it may use the channel reserve. It is counted from
        before it leaves until one window after its answer. Requests waiting
        here get every freed slot of their windows before any progress edit,
        oldest first (:class:`~bot.ui.finals.FinalGate`). After :meth:`close`
        they are still paced.
        """
        if via_interaction:
            windows = [self._webhooks] if token is None else [token, self._webhooks]
        elif channel is None:
            windows = [self._global]
        else:
            windows = [self._global, self._channel(channel)]
        await self.finals.acquire(windows)
        try:
            yield
        finally:
            self.finals.release(windows, asyncio.get_running_loop().time())
            self.wake()  # progress may have room again

    # ------------------------------------------------------------ progress

    def _finished(self, handle: EditHandle, _task: asyncio.Task[None]) -> None:
        # A done callback, so it also runs for a task cancelled before it started.
        handle.inflight = None
        self._inflight -= 1
        now = asyncio.get_running_loop().time()
        for window in handle.taken:
            window.end(now)
        handle.taken = []
        self.finals.serve(now)  # a waiting final may fit now
        self.wake()

    async def close(self) -> None:
        """Stop the scheduler; pending edits are dropped, edits in flight cancelled."""
        self._closed = True
        handles = list(self._open)
        self._pending.clear()
        self._open.clear()
        for handle in handles:
            await handle.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------ planning

    def _refresh_loads(self, now: float) -> tuple[int, int, dict[int, int]]:
        """How many open messages use each route (recounted at most every second)."""
        if now - self._loads_at >= LOAD_REFRESH:
            webhook = bot = 0
            channels: dict[int, int] = {}
            for handle in self._open:
                via_interaction, channel = handle.route()
                if via_interaction:
                    webhook += 1
                else:
                    bot += 1
                    if channel is not None:
                        channels[channel] = channels.get(channel, 0) + 1
            self._loads, self._loads_at = (webhook, bot, channels), now
        return self._loads

    def interval_for(self, via_interaction: bool, channel: int | None, now: float) -> float:
        """The current interval between two edits of one message on this route."""
        b = self.budget
        webhook, bot, channels = self._refresh_loads(now)
        if via_interaction:
            load = webhook / (b.webhook_limit / b.webhook_period)
        else:
            load = bot / (b.global_limit / b.global_period)
            if channel is not None:
                per_channel = channels.get(channel, 1) / (b.channel_limit / b.channel_period)
                load = max(load, per_channel)
        return max(self.interval, load)

    def _due(self, handle: EditHandle, now: float) -> float:
        """When ``handle`` may be edited next, given its interval and every budget it uses."""
        via_interaction, channel = handle.route()
        due = max(
            handle.last_sent + self.interval_for(via_interaction, channel, now), handle.retry_at
        )
        if via_interaction:
            return max(due, handle.window.free_at(now), self._webhooks.free_at(now))
        due = max(due, self._global.free_at(now))
        if channel is not None:
            due = max(due, self._channel(channel).free_at(now))
        return due

    def _channel(self, channel: int) -> Window:
        window = self._channels.get(channel)
        if window is None:
            b = self.budget
            window = self._channels[channel] = Window(
                b.channel_limit, b.channel_period, b.channel_reserve
            )
        return window

    def _take(self, handle: EditHandle, now: float) -> None:
        # Counted from now until a window after the edit's answer (see bot.ui.rate_window).
        via_interaction, channel = handle.route()
        if via_interaction:
            handle.taken = [handle.window, self._webhooks]
        elif channel is not None:
            handle.taken = [self._global, self._channel(channel)]
        else:
            handle.taken = [self._global]
        for window in handle.taken:
            window.start()

    def plan(self, now: float) -> tuple[list[tuple[EditHandle, str]], float | None]:
        """Choose the edits to start at ``now``, oldest-shown first, and spend their budgets.

        Returns ``(handle, content)`` pairs to send and when the next one falls due
        (``None``: nothing is waiting, or only on an edit or a final in flight).
        """
        self.finals.serve(now)  # a freed slot goes to a waiting final first
        chosen: list[tuple[EditHandle, str]] = []
        next_due: float | None = None
        ready = [h for h in self._pending if h.inflight is None]
        ready.sort(key=lambda h: h.last_sent)
        for handle in ready:
            if handle.pending is None or handle.pending == handle.shown:
                self._pending.pop(handle, None)
                continue
            if self._inflight + len(chosen) >= self.budget.max_in_flight:
                break  # woken again when one finishes
            due = self._due(handle, now)
            if due > now:
                if due < math.inf:  # else a final's request ending wakes the loop
                    next_due = due if next_due is None else min(next_due, due)
                continue
            self._take(handle, now)
            chosen.append((handle, handle.pending))
            handle.pending = None
            handle.last_sent = now
            self._pending.pop(handle, None)
        return chosen, next_due

    def _pass(self, now: float) -> float | None:
        """Start every edit that is due; returns the next due time."""
        chosen, next_due = self.plan(now)
        loop = asyncio.get_running_loop()
        for handle, content in chosen:
            self.sent += 1
            self._inflight += 1
            task = loop.create_task(handle.send(content), name=f"edit:{handle.name}")
            task.add_done_callback(functools.partial(self._finished, handle))
            handle.inflight = task
        return next_due

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            next_due = self._pass(loop.time())
            # Batching, not synchronisation: at most one planning pass per tick.
            await asyncio.sleep(self._tick)
            if self._wake.is_set():
                continue
            timeout = None if next_due is None else max(0.0, next_due - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
