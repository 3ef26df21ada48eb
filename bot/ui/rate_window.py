"""A sliding-window rate limit: at most ``limit`` events in any ``period`` seconds.

A sliding window never lets a burst straddle two of Discord's fixed windows:
``limit`` events per ``period`` sliding means at most ``limit`` in any fixed
window of that length, so a limit set below Discord's is never exceeded.
"""

from __future__ import annotations

from collections import deque


class Window:
    """Remembers the last ``limit`` event times; the caller supplies the clock."""

    __slots__ = ("_times", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a window needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque(maxlen=limit)

    def free_at(self, now: float) -> float:
        """The earliest time (``>= now``) at which one more event fits."""
        if len(self._times) < self.limit:
            return now
        return max(now, self._times[0] + self.period)

    def take(self, now: float) -> None:
        """Record one event at ``now`` (call only when ``free_at(now) <= now``)."""
        self._times.append(now)

    def fill(self, now: float, *, leave: int = 0) -> None:
        """Count the window as spent at ``now`` but for ``leave`` events.

        For a budget someone else may have spent (another process, just before
        it died): nothing more fits until ``now + period``, except ``leave`` events.
        """
        # Older events fall out of the deque; the newest ``leave`` of them stay counted.
        for _ in range(max(0, self.limit - leave)):
            self._times.append(now)
