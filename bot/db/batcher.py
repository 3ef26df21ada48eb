"""Batches: one database trip for every request that arrived while the last trip was out.

On PostgreSQL every statement is a network round trip, and round trips, not
rows, are what a credit operation costs: the server's work per statement
(parsing, planning, a transaction, waking a backend) dwarfs its work per row.
So a process sends its reservations (and, apart, its settlements) in batches:
while one batch is at the server, the next one gathers, and goes as soon as
the first is answered. Under no load a batch is one request and goes at once;
under load a batch carries many for the price of one. On SQLite the
reservations are batched too: a batch reads each member's numbers once (the
longest statement of a reservation), and the writer's group commit
(:mod:`bot.db.group_commit`) puts the batch in one transaction with the rest.

Each request still gets its own outcome. If the database rejects a batch of
several (a statement's error: nothing of it was written), each of its
requests is run again alone, so one bad request fails only its own caller.
Any other failure (the connection lost, the database busy) fails the whole
batch's callers, as it would have failed each of them alone: after a lost
connection it is unknown whether a commit happened, so nothing is re-run.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg

from bot.db.errors import StoreBusy, StoreError

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Out = TypeVar("Out")

#: The most requests one batch carries: bounds a statement's size and its locks.
MAX_BATCH = 128


@dataclass(eq=False, slots=True)
class Ticket(Generic[Req]):
    """A request in a batch. ``abandoned``: its caller was cancelled after the batch left.

    The batch's plan reads ``abandoned`` when it starts running (on SQLite, on
    the database thread: a plain attribute, one store and one load, atomic
    under the GIL) and leaves such a request out, as the group commit skips a
    plan whose caller was cancelled before it ran.
    """

    request: Req
    abandoned: bool = False


@dataclass(eq=False, slots=True)
class _Item(Generic[Req, Out]):
    ticket: Ticket[Req]
    future: asyncio.Future[Out]
    taken: bool = False


def rejected_by_server(error: BaseException) -> bool:
    """True when the database answered a statement with an error: the batch wrote nothing.

    PostgreSQL's server rolls the transaction back; SQLite rolls the plan back
    to its savepoint (or, when its commit failed, the whole transaction). Not
    the busy errors (a lock or serialization timeout, worth the same for each
    request alone) and not a lost connection (a commit may have landed).
    """
    reported = isinstance(error.__cause__, asyncpg.PostgresError | sqlite3.Error)
    return reported and not isinstance(error, StoreBusy)


class Batcher(Generic[Req, Out]):
    """Runs requests in batches through ``run``, one batch at a time.

    ``run(tickets)`` returns one outcome per ticket, in order: the value for
    its caller, or an exception to raise in the caller (whatever it returns
    for an abandoned ticket is dropped). It may raise (the whole batch
    failed); see the module's docstring for what happens then.
    """

    def __init__(
        self,
        run: Callable[[Sequence[Ticket[Req]]], Awaitable[list[Out | BaseException]]],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        """Batch requests for ``run``, at most ``max_batch`` at a time."""
        self._run = run
        self._max = max_batch
        self._pending: deque[_Item[Req, Out]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Trips to the database (a batch, or one request run again alone) and
        #: requests the batches carried (for tests and the bench).
        self.batches = 0
        self.requests = 0

    async def submit(self, request: Req) -> Out:
        """Run ``request`` in the next batch; its value, or its error raised.

        A caller cancelled before its batch left is dropped from it; one
        cancelled later is marked abandoned (the batch's plan leaves it out if
        it has not started yet) and waits for the batch (its transaction ends
        first), then is cancelled. If the plan had started, the request's
        effect stands, as for a cancelled call on a single connection whose
        statement already reached the server.
        """
        if self._closed:
            raise StoreError("the database is closed")
        loop = asyncio.get_running_loop()
        item: _Item[Req, Out] = _Item(Ticket(request), loop.create_future())
        self._pending.append(item)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        try:
            return await asyncio.shield(item.future)
        except asyncio.CancelledError:
            if not item.taken:
                self._pending.remove(item)
                item.future.cancel()
            else:
                item.ticket.abandoned = True
                await asyncio.wait([item.future])
                if not item.future.cancelled():
                    item.future.exception()  # retrieved: expected after a cancellation
            raise

    async def close(self) -> None:
        """Refuse new requests and wait for the batches already asked for."""
        self._closed = True
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        try:
            while self._pending:
                count = min(self._max, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                for item in batch:
                    item.taken = True
                await self._run_batch(batch)
        finally:
            self._task = None
            # Cancelled (the loop is ending): whoever still waits hears why.
            while self._pending:
                _settle(self._pending.popleft(), StoreError("the database is closing"))

    async def _run_batch(self, batch: list[_Item[Req, Out]]) -> None:
        self.batches += 1
        self.requests += len(batch)
        tickets = [item.ticket for item in batch]
        try:
            outcomes = await self._run(tickets)
        except StoreError as exc:
            if len(batch) == 1 or not rejected_by_server(exc):
                outcomes = [exc] * len(batch)
            else:
                log.debug("a batch of %d was rejected (%s); running each alone", len(batch), exc)
                outcomes = [await self._alone(ticket) for ticket in tickets]
        except asyncio.CancelledError:
            for item in batch:
                _settle(item, StoreError("the database is closing"))
            raise
        except Exception as exc:  # a bug: never leave a caller waiting
            log.exception("a batch failed")
            outcomes = [exc] * len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            _settle(item, outcome)

    async def _alone(self, ticket: Ticket[Req]) -> Out | BaseException:
        self.batches += 1
        try:
            return (await self._run([ticket]))[0]
        except Exception as exc:
            return exc


def _settle(item: _Item[Req, Out], outcome: Out | BaseException) -> None:
    if item.future.done():
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
