"""Requests that go ahead of progress edits: a job's final message and its fallbacks.

:class:`FinalGate` hands out the rate windows (:class:`~bot.ui.rate_window.Window`)
that :class:`~bot.ui.edits.EditScheduler` shares with progress edits. A request
waits in :meth:`FinalGate.acquire` until every window it needs has room (urgent
room: a window's reserve counts), then holds a place in each until
:meth:`FinalGate.release`, and for one window after (finals come in bursts: see
:mod:`bot.ui.rate_window`). The scheduler serves the gate before it plans
progress, and the gate serves itself when a window it waits for frees, so a
freed slot goes to a waiting request first. Waiting requests are served oldest
first; one waiting on a full channel does not hold up another whose windows
have room.

The gate needs no task of its own (a timer at the next due time, and each
release), so it keeps pacing after the scheduler has closed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from bot.ui.rate_window import Window


class _Waiter:
    """One request waiting in :meth:`FinalGate.acquire`: the windows it needs."""

    __slots__ = ("future", "windows")

    def __init__(self, windows: Sequence[Window], future: asyncio.Future[None]) -> None:
        self.windows = windows
        self.future = future


class FinalGate:
    """Grants requests their windows' budget ahead of progress; see the module docstring."""

    def __init__(self) -> None:
        self._waiting: list[_Waiter] = []  # oldest first
        self._timer: asyncio.TimerHandle | None = None
        self.granted = 0  # requests that went out through the gate
        self.waited = 0  # of those asked for, how many found a window full

    @property
    def waiting(self) -> int:
        """How many requests are waiting for a window now."""
        return sum(1 for w in self._waiting if not w.future.done())

    async def acquire(self, windows: Sequence[Window]) -> None:
        """Wait until one more event fits in each of ``windows`` (reserves included); start it.

        Every acquire that returns needs its :meth:`release`; cancelled while
        waiting, it takes nothing.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(windows, loop.create_future())
        self._waiting.append(waiter)
        self.serve(loop.time())
        if waiter.future.done():
            return
        self.waited += 1
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                # Granted in the same turn of the loop as the caller was cancelled:
                # the places it was given would never be released. Give them back.
                for window in windows:
                    window.unstart()
            else:
                waiter.future.cancel()
            self.serve(loop.time())  # its place may let a later one go
            raise

    def serve(self, now: float) -> None:
        """Grant every waiting request whose windows have room at ``now``, oldest first."""
        waiting: list[_Waiter] = []
        next_due: float | None = None
        for waiter in self._waiting:
            if waiter.future.done():
                continue
            due = max(w.free_at(now, urgent=True) for w in waiter.windows)
            if due > now:
                waiting.append(waiter)
                if due < math.inf:  # else only a release makes room
                    next_due = due if next_due is None else min(next_due, due)
                continue
            for window in waiter.windows:
                window.start()
            self.granted += 1
            waiter.future.set_result(None)
        self._waiting = waiting
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if next_due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(next_due, self._due, next_due)

    def release(self, windows: Sequence[Window], now: float) -> None:
        """The request :meth:`acquire` let go has its answer: count it from ``now``."""
        for window in windows:
            window.end(now)
        self.serve(now)

    def _due(self, due: float) -> None:
        # The loop may run a timer up to its clock resolution early: it is due now.
        self._timer = None
        self.serve(max(asyncio.get_running_loop().time(), due))
