"""A sliding-window rate limit: at most ``limit`` events in any ``period`` seconds.

A sliding window never lets a burst straddle two of Discord's fixed windows:
``limit`` events per ``period`` sliding means at most ``limit`` in any fixed
window of that length, so a limit set below Discord's is never exceeded.

A window may keep a ``reserve`` on top of its limit for urgent events (a job's
final message): ordinary events stop at ``limit``, urgent ones at
``limit + reserve``, and both count against both.

An event may also be counted for as long as it is under way (:meth:`Window.start`,
:meth:`Window.end`): from before the request leaves until ``period`` after its
answer came, which covers the moment it reached Discord however long it took
to get there. A burst of requests that the event loop sends slowly (uploads,
a busy process) then cannot meet the next burst inside one of Discord's windows.
"""

from __future__ import annotations

import math
from collections import deque


class Window:
    """Remembers the last ``limit + reserve`` event times; the caller supplies the clock."""

    __slots__ = ("_times", "inflight", "limit", "period", "reserve")

    def __init__(self, limit: int, period: float, reserve: int = 0) -> None:
        if limit < 1 or period <= 0 or reserve < 0:
            raise ValueError("a window needs limit >= 1, period > 0 and reserve >= 0")
        self.limit = limit
        self.period = period
        self.reserve = reserve
        self.inflight = 0  # events started and not ended: each holds a place
        self._times: deque[float] = deque(maxlen=limit + reserve)

    def free_at(self, now: float, *, urgent: bool = False) -> float:
        """The earliest time (``>= now``) at which one more event fits.

        ``urgent`` events may also use the reserve. ``math.inf`` when only an
        event under way, once ended, can make room.
        """
        room = self.limit + (self.reserve if urgent else 0) - self.inflight
        if room <= 0:
            return math.inf
        if len(self._times) < room:
            return now
        # The room-th newest event is the one that must leave the window first.
        return max(now, self._times[-room] + self.period)

    def take(self, now: float) -> None:
        """Record one event at ``now`` (call only when ``free_at(now) <= now``)."""
        self._times.append(now)

    def start(self) -> None:
        """Count one event from now until :meth:`end` (call only when ``free_at(now) <= now``)."""
        self.inflight += 1

    def unstart(self) -> None:
        """Take back a :meth:`start` whose event never happened (it counts nothing)."""
        self.inflight -= 1

    def end(self, now: float) -> None:
        """The event :meth:`start` counted is over: it stays counted for ``period`` from ``now``."""
        self.inflight -= 1
        self._times.append(now)

    def fill(self, now: float, *, leave: int = 0) -> None:
        """Count the window as spent at ``now`` but for ``leave`` events (and the reserve).

        For a budget someone else may have spent (another process, just before
        it died): nothing more fits until ``now + period``, except ``leave``
        events, and urgent ones in the reserve.
        """
        # Older events fall out of the deque; the newest others of them stay counted.
        for _ in range(max(0, self.limit - leave)):
            self._times.append(now)
