"""A FIFO of job slots: at most N jobs run at once, the rest wait in order and know their place.

Alone, a :class:`SlotQueue` counts the jobs of this process. Given the shared
``store`` (see :mod:`bot.db.leases`), the limit and the order hold across every
process sharing the database: a job takes a slot by the store's atomic check
(``take_slot``: free slots counted in every live process, nobody waiting ahead),
waiting jobs are woken when a slot frees here, and at a modest interval for
slots freed elsewhere, and their positions come from the store's one queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

Moved = Callable[[int], None]  # told a waiter's new 1-based position


class SharedSlots(Protocol):
    """The store's slots of every process (:class:`bot.db.leases.LeaseStore`)."""

    async def take_slot(self, job_id: int, limit: int) -> bool:
        """Take a slot for ``job_id`` if one is free and nobody waits ahead of it."""
        ...

    async def free_slot(self, job_id: int) -> None:
        """``job_id`` no longer renders."""
        ...

    async def slot_queue(self) -> list[int]:
        """The waiting jobs of every process, first in line first."""
        ...


@dataclass(slots=True)
class _Waiter:
    key: object
    future: asyncio.Future[None]
    moved: Moved | None
    job_id: int | None = None
    shown: int | None = None  # the position last told (shared queue)


class SlotQueue:
    """Like a FIFO semaphore, but each waiter knows its 1-based position.

    The queue owns the list of waiters: whenever positions may have moved it
    tells each waiter its place (the ``on_position`` given to :meth:`slot`), so
    waiting jobs can refresh what they show, then calls ``on_change``.

    With ``shared`` (the store), slots asked for with a ``job_id`` are counted
    across processes; ``poll`` is how often waiting jobs look for slots freed
    by another process.
    """

    def __init__(
        self,
        limit: int,
        on_change: Callable[[], None] | None = None,
        *,
        shared: SharedSlots | None = None,
        poll: float = 1.0,
    ) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[_Waiter] = deque()
        self._on_change = on_change
        self.shared = shared
        self.poll = poll
        self._kicked = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many jobs of this process wait for a slot."""
        return len(self._waiters)

    def position(self, key: object) -> int | None:
        """1-based place of ``key`` in the queue, or None when it is not waiting."""
        for index, waiter in enumerate(self._waiters, start=1):
            if waiter.key == key:
                return index if waiter.job_id is None else waiter.shown
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
    async def slot(
        self, key: object, on_position: Moved | None = None, *, job_id: int | None = None
    ) -> AsyncIterator[None]:
        """Hold a slot for the body; waits in FIFO order when all are taken.

        While waiting, ``on_position`` is told the waiter's place each time it may
        have changed. With a ``job_id`` and a shared store, the slot and the
        place are those of every process.
        """
        if self.shared is not None and job_id is not None:
            async with self._shared_slot(key, on_position, job_id):
                yield
            return
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

    # ------------------------------------------------------------ shared

    @asynccontextmanager
    async def _shared_slot(
        self, key: object, on_position: Moved | None, job_id: int
    ) -> AsyncIterator[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(key, future, on_position, job_id)
        self._waiters.append(waiter)
        self._kick()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                await self._give_back(job_id)  # granted as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._kick()
            raise
        try:
            yield
        finally:
            await self._give_back(job_id)

    async def _give_back(self, job_id: int) -> None:
        """Free the slot here and in the store, then let the next waiters try."""
        self.running -= 1
        assert self.shared is not None
        try:
            # An ended job no longer counts anyway; a paused one waits again.
            await asyncio.shield(self.shared.free_slot(job_id))
        except Exception as exc:  # its lease's end (or release) frees it at worst
            log.warning("job %s: could not free its slot: %s", job_id, exc)
        self._kick()

    def _kick(self) -> None:
        """Have the waiters try for slots now (one pass at a time, in the background)."""
        self._kicked.set()
        if self._waiters and (self._pump is None or self._pump.done()):
            self._pump = asyncio.create_task(self._pumping(), name="slot-queue")

    async def _pumping(self) -> None:
        while self._waiters:
            self._kicked.clear()
            try:
                await self._pass()
            except Exception as exc:  # the database is away: try again at the next poll
                log.warning("slots: could not look for a free slot: %s", exc)
            if not self._waiters:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kicked.wait(), self.poll)

    async def _pass(self) -> None:
        """Give the free slots to this process's waiters first in the shared line."""
        assert self.shared is not None
        line = await self.shared.slot_queue()
        place = {job_id: index for index, job_id in enumerate(line)}
        granted: set[int] = set()
        for waiter in sorted(self._waiters, key=lambda w: place.get(w.job_id or 0, math.inf)):
            job_id = waiter.job_id
            assert job_id is not None
            if waiter.future.done():
                continue
            if not await self.shared.take_slot(job_id, self.limit):
                if job_id in place:
                    break  # full, or others first: everyone behind it waits too
                continue  # not in line (its lease was not taken): the others may go on
            if waiter.future.done():  # cancelled while taking it
                await self.shared.free_slot(job_id)
                continue
            granted.add(job_id)
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            self.running += 1
            waiter.future.set_result(None)
        line = [job_id for job_id in line if job_id not in granted]
        place = {job_id: index for index, job_id in enumerate(line, start=1)}
        for waiter in list(self._waiters):
            shown = place.get(waiter.job_id or 0, len(line) + 1)
            if shown != waiter.shown:
                waiter.shown = shown
                if waiter.moved is not None:
                    waiter.moved(shown)
        if self._on_change is not None:
            self._on_change()
