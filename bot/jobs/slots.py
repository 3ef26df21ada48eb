"""A FIFO of job slots: at most N jobs run at once, the rest wait in order and know their place."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

Moved = Callable[[int], None]  # told a waiter's new 1-based position


@dataclass(slots=True)
class _Waiter:
    key: object
    future: asyncio.Future[None]
    moved: Moved | None


class SlotQueue:
    """Like a FIFO semaphore, but each waiter knows its 1-based position.

    The queue owns the list of waiters: whenever positions may have moved it
    tells each waiter its place (the ``on_position`` given to :meth:`slot`), so
    waiting jobs can refresh what they show, then calls ``on_change``.
    """

    def __init__(self, limit: int, on_change: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[_Waiter] = deque()
        self._on_change = on_change

    @property
    def waiting(self) -> int:
        """How many jobs wait for a slot."""
        return len(self._waiters)

    def position(self, key: object) -> int | None:
        """1-based place of ``key`` in the queue, or None when it is not waiting."""
        for index, waiter in enumerate(self._waiters, start=1):
            if waiter.key == key:
                return index
        return None

    def _changed(self) -> None:
        for index, waiter in enumerate(list(self._waiters), start=1):
            if waiter.moved is not None:
                waiter.moved(index)
        if self._on_change is not None:
            self._on_change()

    def _wake(self) -> None:
        while self.running < self.limit and self._waiters:
            future = self._waiters.popleft().future
            if not future.done():
                self.running += 1
                future.set_result(None)
        self._changed()

    @asynccontextmanager
    async def slot(self, key: object, on_position: Moved | None = None) -> AsyncIterator[None]:
        """Hold a slot for the body; waits in FIFO order when all are taken.

        While waiting, ``on_position`` is told the waiter's place each time it may
        have changed (synchronously, from the queue's bookkeeping).
        """
        if self.running < self.limit and not self._waiters:
            self.running += 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(_Waiter(key, future, on_position))
            self._changed()
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self.running -= 1  # the slot was granted as we were cancelled
                else:
                    self._waiters = deque(w for w in self._waiters if w.key != key)
                self._wake()
                raise
        try:
            yield
        finally:
            self.running -= 1
            self._wake()
