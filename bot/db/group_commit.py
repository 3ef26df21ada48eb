"""Group commit: the SQLite writer runs every plan waiting for it in one transaction.

A commit is the expensive part of a small SQLite transaction (WAL frames for
every page the plan touched, several indexes of ``jobs`` among them). When 50
members ask at once, their plans queue for the one writer anyway; running all
of the queued ones between one ``BEGIN IMMEDIATE`` and one ``COMMIT`` writes
each page once per batch instead of once per plan.

Each plan still succeeds or fails alone: it runs inside its own ``SAVEPOINT``,
rolled back to when the plan raises (a refused reservation, a CHECK failure),
so the others' work stays. A caller hears of its result only after the
batch's ``COMMIT``, so a result is never reported for work that could still be
lost; if the ``COMMIT`` itself fails, every plan of the batch gets the error
and nothing of the batch was written.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.db.connection import on_thread
from bot.db.errors import StoreError, wrap_sqlite_error
from bot.db.migrate import rollback
from bot.db.plan import Op, Plan

log = logging.getLogger(__name__)

#: The most plans one transaction runs: bounds how long the write lock is held.
MAX_BATCH = 128


class Abandoned(Exception):
    """The caller was cancelled before its plan ran: the plan was skipped."""


@dataclass(eq=False)
class Item:
    """One plan waiting for the writer, and where its result goes."""

    factory: Callable[[], Plan[Any]]
    durable: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    #: Set on the loop when the caller was cancelled; read on the database thread
    #: (a plain attribute: one store and one load, atomic under the GIL).
    abandoned: bool = False


Outcome = tuple[Item, Any, BaseException | None]


def _resolve_all(outcomes: list[Outcome]) -> None:
    """Hand a batch's results to their waiting coroutines (on the loop's thread)."""
    for item, value, error in outcomes:
        _resolve(item.future, value, error)


def _deliver(outcomes: list[Outcome]) -> None:
    """From the database thread: one wake-up per event loop for the whole batch.

    Each ``call_soon_threadsafe`` writes to the loop's self-pipe, a system
    call; one per batch (usually one loop) instead of one per plan.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, mine in by_loop.items():
        loop.call_soon_threadsafe(_resolve_all, mine)


def _resolve(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Hand a result to its waiting coroutine (on the loop's thread)."""
    if future.done():
        return
    if error is None:
        future.set_result(value)
    elif isinstance(error, sqlite3.Error):
        wrapped = wrap_sqlite_error(error)
        wrapped.__cause__ = error
        future.set_exception(wrapped)
    else:
        future.set_exception(error)


class GroupCommitter:
    """Queues plans for one connection and runs them in batches on its thread."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        drive: Callable[[sqlite3.Connection, Plan[Any]], Any],
    ) -> None:
        """Batch plans for ``conn``, running them on its own thread with ``drive``."""
        self._conn = conn
        self._drive = drive
        self._pending: deque[Item] = deque()
        self._mutex = threading.Lock()
        self._draining = False
        # The running drain, referenced so that it is not garbage-collected mid-way.
        self._drains: set[asyncio.Task[None]] = set()
        #: Batches committed and plans run (for tests and the bench).
        self.batches = 0
        self.plans = 0

    async def run(self, factory: Callable[[], Plan[Any]], *, durable: bool) -> Any:
        """Run the plan in the next batch; its result once the batch committed."""
        loop = asyncio.get_running_loop()
        item = Item(factory, durable, loop, loop.create_future())
        with self._mutex:
            self._pending.append(item)
            start, self._draining = not self._draining, True
        if start:
            drain = loop.create_task(on_thread(self._conn, self._drain))
            self._drains.add(drain)
            drain.add_done_callback(self._drained)
        try:
            return await asyncio.shield(item.future)
        except asyncio.CancelledError:
            # Skip the plan if it has not run yet, and return only once the
            # batch is over: no transaction outlives the cancelled call.
            item.abandoned = True
            await asyncio.wait([item.future])
            if not item.future.cancelled():
                item.future.exception()  # retrieved: expected after a cancellation
            raise

    def _drained(self, drain: asyncio.Task[None]) -> None:
        """On the loop: a drain that could not run fails the plans still waiting.

        That is a closed connection, or the loop shutting down before the
        drain reached the thread. Plans the thread already took get their own
        results; a drain that is still queued on the thread finds nothing
        left, and a later one runs after it on the same thread, never beside it.
        """
        self._drains.discard(drain)
        cause = asyncio.CancelledError() if drain.cancelled() else drain.exception()
        if cause is None:
            return
        error = StoreError("the database connection is closed")
        error.__cause__ = cause
        with self._mutex:
            waiting = list(self._pending)
            self._pending.clear()
            self._draining = False
        for item in waiting:
            _resolve(item.future, None, error)

    def _drain(self, conn: sqlite3.Connection) -> None:
        """On the database thread: run batches until nothing waits."""
        while True:
            with self._mutex:
                if not self._pending:
                    self._draining = False
                    return
                batch = [self._pending.popleft() for _ in range(min(MAX_BATCH, len(self._pending)))]
            try:
                self._run_batch(conn, batch)
            except BaseException as exc:  # never leave a caller waiting
                log.exception("group commit failed")
                _deliver([(item, None, exc) for item in batch])

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Item]) -> None:
        outcomes: list[Outcome] = []
        durable = any(item.durable for item in batch)
        if durable:
            # A durable plan's commit is worth one fsync: it must survive a
            # power cut too. (The pragma cannot change inside a transaction.)
            conn.execute("PRAGMA synchronous = FULL")
        try:
            log.debug("write transaction: %r", "BEGIN IMMEDIATE")  # may wait for the lock
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in batch:
                    outcomes.append((item, *self._run_one(conn, item)))
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        except sqlite3.Error as exc:
            # No transaction, or a failed commit: nothing of the batch was written.
            outcomes = [(item, None, exc) for item in batch]
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")
        self.batches += 1
        self.plans += len(batch)
        _deliver(outcomes)

    def _run_one(self, conn: sqlite3.Connection, item: Item) -> tuple[Any, BaseException | None]:
        """Run one plan inside its savepoint; its result, or the error it was rolled back for.

        An error the savepoint cannot contain (SQLite rolled the whole
        transaction back, e.g. on a full disk) propagates and fails the batch.
        """
        if item.abandoned:
            return None, Abandoned()
        conn.execute("SAVEPOINT plan")
        try:
            value = self._drive(conn, item.factory())
        except Exception as exc:  # the plan's own failure: undo it alone
            if not conn.in_transaction:
                raise
            conn.execute("ROLLBACK TO plan")
            conn.execute("RELEASE plan")
            return None, exc
        conn.execute("RELEASE plan")
        return value, None


__all__ = ["MAX_BATCH", "Abandoned", "GroupCommitter", "Op"]
