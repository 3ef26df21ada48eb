"""Opening the SQLite file: a private file, the connection pragmas, then migrations.

Synchronous: these run on the SQLite backend's database thread.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.db.errors import StoreError, wrap_sqlite_error
from bot.db.migrate import apply_migrations

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 5.0


def connect(location: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> sqlite3.Connection:
    """A configured, migrated connection to ``location``; the caller closes it.

    ``isolation_level=None`` leaves transactions to us: the store issues its own
    ``BEGIN IMMEDIATE``, which the sqlite3 module's implicit transactions would
    otherwise pre-empt with a deferred ``BEGIN``.
    """
    if location != ":memory:":
        prepare_file(Path(location))
    try:
        conn = sqlite3.connect(
            location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise wrap_sqlite_error(exc) from exc
    try:
        conn.row_factory = sqlite3.Row
        version = configure(conn, busy_timeout)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise wrap_sqlite_error(exc) from exc
        raise
    log.info("opened database %s (schema v%d)", location, version)
    return conn


def connect_reader(
    location: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> sqlite3.Connection | None:
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
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        log.warning("no read-only connection to %s (%s): reads share the writer", location, exc)
        return None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA user_version").fetchone()  # proves the file can be read now
    except sqlite3.Error as exc:
        conn.close()
        log.warning("no read-only connection to %s (%s): reads share the writer", location, exc)
        return None
    return conn


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
