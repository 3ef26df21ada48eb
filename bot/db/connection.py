"""Opening the SQLite file: a private file, the connection pragmas, then migrations.

Each connection is an :class:`aiosqlite.Connection`: a ``sqlite3`` connection
owned by a thread of its own. :func:`on_thread` runs a synchronous function on
that thread with the ``sqlite3`` connection; the pragmas, migrations and plans
are such functions (synchronous, like :mod:`bot.db.migrate`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from bot.db.errors import StoreError, wrap_sqlite_error
from bot.db.migrate import apply_migrations

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 5.0


async def on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``fn(sqlite3_connection, *args)`` on ``conn``'s own thread; its result or its exception.

    The one place that reaches into aiosqlite: it has no public "run this
    callable on your thread" method, and a whole plan (or a group commit's
    batch) must run in one trip to the thread, not one trip per statement.
    ``Connection._execute(fn, *args)`` queues ``fn`` for that thread and is
    what every public method of aiosqlite is built on; ``_conn`` is the
    ``sqlite3`` connection the thread owns. Both are unchanged across the
    versions ``pyproject.toml`` allows (source:
    https://github.com/omnilib/aiosqlite/blob/main/aiosqlite/core.py), and
    ``tests/db/test_aiosqlite_thread.py`` fails if either changes.
    """
    result: T = await conn._execute(fn, conn._conn, *args)
    return result


async def connect(
    location: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> aiosqlite.Connection:
    """A configured, migrated connection to ``location``; the caller closes it.

    ``isolation_level=None`` leaves transactions to us: the store issues its own
    ``BEGIN IMMEDIATE``, which the sqlite3 module's implicit transactions would
    otherwise pre-empt with a deferred ``BEGIN``.
    """
    if location != ":memory:":
        await asyncio.to_thread(prepare_file, Path(location))
    try:
        conn = await aiosqlite.connect(location, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise wrap_sqlite_error(exc) from exc
    try:
        version = await on_thread(conn, configure, busy_timeout)
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, sqlite3.Error):
            raise wrap_sqlite_error(exc) from exc
        raise
    log.info("opened database %s (schema v%d)", location, version)
    return conn


async def connect_reader(
    location: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> aiosqlite.Connection | None:
    """A second, read-only connection to an open database, or None when there cannot be one.

    Opened with ``mode=ro`` and ``PRAGMA query_only``, so it can never write
    or take the write lock; in WAL mode its reads run beside the writer's
    transactions. ``:memory:`` (private to one connection) and a file that
    cannot be opened this way get None: the store then reads on its writer.
    Call it after :func:`connect`, which creates and migrates the file.
    """
    if location == ":memory:":
        return None
    uri = read_only_uri(location)
    try:
        conn = await aiosqlite.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        log.warning("no read-only connection to %s (%s): reads share the writer", location, exc)
        return None
    try:
        await on_thread(conn, _configure_reader, busy_timeout)
    except sqlite3.Error as exc:
        await conn.close()
        log.warning("no read-only connection to %s (%s): reads share the writer", location, exc)
        return None
    return conn


def _configure_reader(conn: sqlite3.Connection, busy_timeout: float) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA user_version").fetchone()  # proves the file can be read now


def read_only_uri(location: str) -> str:
    """The ``file:`` URI that opens ``location`` read-only (special characters escaped)."""
    return f"file:{quote(os.path.abspath(location))}?mode=ro"


def prepare_file(path: Path) -> None:
    """Create the parent directory and an owner-only database file before SQLite opens it.

    The file holds interaction tokens that can post as the bot. Creating it
    ourselves with mode 0600 avoids a window in which SQLite's default 0644 file
    exists; SQLite gives its -wal/-shm files the database's mode, and any left
    from an older, looser file are tightened too.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if candidate.exists():
                candidate.chmod(0o600)
    except OSError as exc:
        raise StoreError(f"cannot create database file {path}: {exc}") from exc


def _journal_mode_wal(conn: sqlite3.Connection, busy_timeout: float) -> Any:
    """``PRAGMA journal_mode = WAL``, retried while another connection is switching it.

    SQLite answers "database is locked" at once, without its busy handler,
    when two connections open a fresh file and switch it to WAL together.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)  # on the database thread, not the event loop


def configure(conn: sqlite3.Connection, busy_timeout: float) -> int:
    """Set the per-connection pragmas and migrate; return the schema version."""
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")
    row = _journal_mode_wal(conn, busy_timeout)
    if row is None or str(row[0]).lower() != "wal":
        # e.g. :memory: or a filesystem without shared memory: still correct, less concurrent.
        log.warning("database journal_mode is %s, not wal", row[0] if row else None)
    # NORMAL is durable across application crashes in WAL mode; only a power cut
    # can lose the last commits, which is acceptable for a bot's job table.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return apply_migrations(conn)
