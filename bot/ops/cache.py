"""One shared, recent answer for many askers: what keeps monitoring cheap for the bot.

``/metrics`` and ``/healthz`` can be asked by anyone who reaches the port, as
often as they like. :class:`Fresh` turns any number of concurrent requests into
at most one run of the expensive work, and serves a result younger than
``max_age`` without running it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Fresh(Generic[T]):
    """Runs ``load`` for whoever asks, sharing one run between concurrent askers.

    ``get()`` returns the result of a run that started at most ``max_age``
    seconds before the call (``0``: at or after the call, so concurrent askers
    share the run in progress, or the next one, and nobody gets an answer older
    than their question). A run that raises is not kept: its exception goes to
    its caller and the next asker runs ``load`` again. ``runs`` counts the runs.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        *,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        self._load = load
        self.max_age = max_age
        self._clock = clock
        self._lock = asyncio.Lock()
        self._kept: tuple[float, T] | None = None
        self.runs = 0

    async def get(self) -> T:
        """A result at most ``max_age`` seconds older than this call."""
        asked = self._clock()
        # The lock makes later askers wait for the run in progress; once it
        # ends they find its result fresh enough and do not run load again.
        async with self._lock:
            kept = self._kept
            if kept is not None and kept[0] >= asked - self.max_age:
                return kept[1]
            started = self._clock()
            self.runs += 1
            value = await self._load()
            self._kept = (started, value)
            return value

    def forget(self) -> None:
        """Drop the kept result: the next ``get()`` runs ``load``."""
        self._kept = None
