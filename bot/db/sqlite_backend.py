"""Running plans on SQLite: whole plans on the database thread, committed in groups.

The writer connection lives on a thread of its own (a one-worker executor).
Every write plan queued by any coroutine runs there, one at a time, each
inside its own savepoint, and the plans waiting together share one
``BEGIN IMMEDIATE`` ... ``COMMIT`` (see :mod:`bot.db.group_commit`). One
thread trip per operation instead of one per statement, and one commit per
batch instead of one per operation, is what lets 50 concurrent writers reach
thousands of credit operations per second; running one at a time serialises
this process's plans (``BEGIN IMMEDIATE`` serialises other processes).

Read-only snapshots (``/metrics``, ``stats``) run on a second, read-only
connection and thread: in WAL mode they read beside the writer, so a scrape
never makes a reservation wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bot.db import connection
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
    """A migrated SQLite file (or ``:memory:``): a writer thread and, for files, a reader thread."""

    name = "sqlite"

    def __init__(
        self,
        location: str,
        writer: sqlite3.Connection,
        writer_thread: ThreadPoolExecutor,
        reader: sqlite3.Connection | None,
        reader_thread: ThreadPoolExecutor | None,
    ) -> None:
        """Wrap open connections; use :meth:`open`."""
        self.location = location
        self._writer = writer
        self._writer_thread = writer_thread
        self._reader = reader
        self._reader_thread = reader_thread
        self.committer = GroupCommitter(writer, writer_thread, _drive)
        #: How many snapshots ran on the read-only connection (for tests and debugging).
        self.reader_reads = 0

    @classmethod
    async def open(cls, location: str, busy_timeout: float) -> SqliteBackend:
        """Create or open the file, migrate it, and open the read-only connection."""
        loop = asyncio.get_running_loop()
        writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        try:
            writer = await loop.run_in_executor(
                writer_thread, connection.connect, location, busy_timeout
            )
        except BaseException:
            writer_thread.shutdown(wait=False)
            raise
        reader_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        reader = await loop.run_in_executor(
            reader_thread, connection.connect_reader, location, busy_timeout
        )
        if reader is None:
            reader_thread.shutdown(wait=False)
            return cls(location, writer, writer_thread, None, None)
        return cls(location, writer, writer_thread, reader, reader_thread)

    async def close(self) -> None:
        """Close both connections on their threads, then stop the threads."""
        loop = asyncio.get_running_loop()
        if self._reader is not None and self._reader_thread is not None:
            await loop.run_in_executor(self._reader_thread, self._reader.close)
            self._reader_thread.shutdown(wait=False)
        await loop.run_in_executor(self._writer_thread, self._writer.close)
        self._writer_thread.shutdown(wait=False)

    async def on_connection(
        self, fn: Callable[[sqlite3.Connection], T], *, reader: bool = False
    ) -> T:
        """Run ``fn(connection)`` on the writer's (or reader's) thread, between two plans.

        For maintenance and tests (pragmas, fault injection): never in the
        middle of a transaction, and never from the event loop's thread, where
        sqlite3 would block the loop on the connection's mutex.
        """
        conn, thread = (
            (self._reader, self._reader_thread)
            if reader
            else (
                self._writer,
                self._writer_thread,
            )
        )
        if conn is None or thread is None:
            raise ValueError("this database has no read-only connection")
        return await asyncio.get_running_loop().run_in_executor(thread, fn, conn)

    async def _call(self, thread: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        abandoned = threading.Event()
        call = functools.partial(fn, *args, abandoned)
        done = asyncio.get_running_loop().run_in_executor(thread, call)
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

    async def write(self, factory: Callable[[], Plan[T]], *, durable: bool = False) -> T:
        """Run the plan in the next group commit: all of it or, if it raises, none of it."""
        result: T = await self.committer.run(factory, durable=durable)
        return result

    async def read(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan on the writer's thread, between batches.

        It sees this process's last commit, and takes no write lock (a
        deferred ``BEGIN``): another process writing does not hold it up.
        """
        args = (self._writer, factory, "BEGIN", False, False)
        return await self._call(self._writer_thread, _transact, *args)

    async def snapshot(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan in one snapshot on the read-only connection (or the writer)."""
        if self._reader is None or self._reader_thread is None:
            return await self.read(factory)
        self.reader_reads += 1
        args = (self._reader, factory, "BEGIN", False, False)
        return await self._call(self._reader_thread, _transact, *args)
