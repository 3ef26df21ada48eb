"""Running plans on SQLite: whole plans on the database thread, committed in groups.

The writer connection lives on a thread of its own (an
:class:`aiosqlite.Connection`; plans reach its thread through
:func:`bot.db.connection.on_thread`). Every write plan queued by any coroutine
runs there, one at a time, each inside its own savepoint, and the plans waiting together share one
``BEGIN IMMEDIATE`` ... ``COMMIT`` (see :mod:`bot.db.group_commit`). One
thread trip per operation instead of one per statement, and one commit per
batch instead of one per operation, is what lets 50 concurrent writers reach
thousands of credit operations per second; running one at a time serialises
this process's plans (``BEGIN IMMEDIATE`` serialises other processes).

Read-only snapshots (``/metrics``, ``stats``) run on a second, read-only
aiosqlite connection (and thread): in WAL mode they read beside the writer, so a scrape
never makes a reservation wait.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

from bot.db import connection
from bot.db.connection import on_thread
from bot.db.errors import wrap_sqlite_error
from bot.db.group_commit import GroupCommitter
from bot.db.migrate import rollback
from bot.db.plan import Op, Plan

T = TypeVar("T")

log = logging.getLogger(__name__)


def _execute(conn: sqlite3.Connection, op: Op) -> Any:
    if op.kind == "lock":
        return None  # BEGIN IMMEDIATE already holds the only write lock
    # fetchall even for one row: a RETURNING statement is finished only once read to the end.
    cur = conn.execute(op.sql, op.params)
    rows = cur.fetchall()
    if op.kind == "run":
        return cur.rowcount
    if op.kind == "all":
        return rows
    first = rows[0] if rows else None
    if op.kind == "one":
        return first
    return 0 if first is None or first[0] is None else int(first[0])


def _drive(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Run every op of ``plan`` on ``conn``; return what the plan returns."""
    try:
        op = next(plan)
        while True:
            op = plan.send(_execute(conn, op))
    except StopIteration as stop:
        return stop.value


class _Abandoned(Exception):
    """The caller was cancelled before the transaction committed: it is rolled back."""


def _transact(
    conn: sqlite3.Connection,
    factory: Callable[[], Plan[T]],
    begin: str,
    keep: bool,
    durable: bool,
    abandoned: threading.Event,
) -> T:
    """One transaction around a plan, on the database thread.

    ``abandoned`` is set when the awaiting coroutine was cancelled: a plan not
    yet committed is then rolled back, so a cancelled call writes nothing
    (unless it had already committed, which the caller cannot tell from a
    cancellation anyway).
    """
    if durable:
        # A commit under synchronous=NORMAL survives a crash of the bot but not
        # a power cut; a durable one is worth one fsync. (The pragma cannot
        # change inside a transaction, hence around it.)
        conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute(begin)
        try:
            if abandoned.is_set():
                raise _Abandoned
            value = _drive(conn, factory())
            if abandoned.is_set():
                raise _Abandoned
            conn.execute("COMMIT" if keep else "ROLLBACK")
        except BaseException:
            rollback(conn)
            raise
        return value
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


class SqliteBackend:
    """A migrated SQLite file (or ``:memory:``): a writer connection and, for files, a reader."""

    name = "sqlite"
    #: No data-modifying CTEs here: a plan's writes are separate statements,
    #: which cost no round trip (the whole plan runs on the database thread).
    cte_writes = False

    def __init__(
        self,
        location: str,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection | None,
    ) -> None:
        """Wrap open connections; use :meth:`open`."""
        self.location = location
        self._writer = writer
        self._reader = reader
        self.committer = GroupCommitter(writer, _drive)
        #: How many snapshots ran on the read-only connection (for tests and debugging).
        self.reader_reads = 0

    @classmethod
    async def open(cls, location: str, busy_timeout: float) -> SqliteBackend:
        """Create or open the file, migrate it, and open the read-only connection."""
        writer = await connection.connect(location, busy_timeout)
        try:
            reader = await connection.connect_reader(location, busy_timeout)
        except BaseException:
            await writer.close()
            raise
        return cls(location, writer, reader)

    async def close(self) -> None:
        """Close both connections (each on its thread, which then stops)."""
        if self._reader is not None:
            await self._reader.close()
        await self._writer.close()

    async def on_connection(
        self, fn: Callable[[sqlite3.Connection], T], *, reader: bool = False
    ) -> T:
        """Run ``fn(connection)`` on the writer's (or reader's) thread, between two plans.

        For maintenance and tests (pragmas, fault injection): never in the
        middle of a transaction, and never from the event loop's thread, where
        sqlite3 would block the loop on the connection's mutex.
        """
        conn = self._reader if reader else self._writer
        if conn is None:
            raise ValueError("this database has no read-only connection")
        return await on_thread(conn, fn)

    async def _call(self, conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
        abandoned = threading.Event()
        done = asyncio.ensure_future(on_thread(conn, fn, *args, abandoned))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            # Roll back whatever has not committed, and return only once the
            # thread is done with it: no transaction outlives the cancelled call.
            abandoned.set()
            await asyncio.wait([done])
            if not done.cancelled():
                done.exception()  # retrieved: a rolled-back plan's error is expected here
            raise
        except sqlite3.Error as exc:
            raise wrap_sqlite_error(exc) from exc

    async def write(
        self, factory: Callable[[], Plan[T]], *, durable: bool = False, single: bool = False
    ) -> T:
        """Run the plan in the next group commit: all of it or, if it raises, none of it.

        ``single`` (a plan of one statement) changes nothing here: every plan
        runs in its savepoint of the batch's transaction.
        """
        result: T = await self.committer.run(factory, durable=durable)
        return result

    async def read(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan on the writer's thread, between batches.

        It sees this process's last commit, and takes no write lock (a
        deferred ``BEGIN``): another process writing does not hold it up.
        """
        return await self._call(self._writer, _transact, factory, "BEGIN", False, False)

    async def snapshot(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan in one snapshot on the read-only connection (or the writer)."""
        if self._reader is None:
            return await self.read(factory)
        self.reader_reads += 1
        return await self._call(self._reader, _transact, factory, "BEGIN", False, False)
