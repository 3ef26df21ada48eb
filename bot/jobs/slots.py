"""A FIFO of job slots: at most N jobs run at once, the rest wait in order and know their place."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class SlotQueue:
    """Like a FIFO semaphore, but each waiter can ask for its 1-based position.

    ``on_change`` is called (synchronously) whenever positions may have moved, so
    waiting jobs can refresh what they show.
    """

    def __init__(self, limit: int, on_change: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[tuple[object, asyncio.Future[None]]] = deque()
        self._on_change = on_change

    @property
    def waiting(self) -> int:
        """How many jobs wait for a slot."""
        return len(self._waiters)

    def position(self, key: object) -> int | None:
        """1-based place of ``key`` in the queue, or None when it is not waiting."""
        for index, (waiter, _) in enumerate(self._waiters, start=1):
            if waiter == key:
                return index
        return None

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _wake(self) -> None:
        while self.running < self.limit and self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                self.running += 1
                future.set_result(None)
        self._changed()

    @asynccontextmanager
    async def slot(self, key: object) -> AsyncIterator[None]:
        """Hold a slot for the body; waits in FIFO order when all are taken."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((key, future))
            self._changed()
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self.running -= 1  # the slot was granted as we were cancelled
                else:
                    self._waiters = deque(w for w in self._waiters if w[0] != key)
                self._wake()
                raise
        try:
            yield
        finally:
            self.running -= 1
            self._wake()
