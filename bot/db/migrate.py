"""Numbered SQL migrations, each applied in one transaction, tracked by ``PRAGMA user_version``.

Migrations live in ``bot/db/migrations/NNNN_name.sql`` (SQLite) and
``bot/db/migrations/postgresql/NNNN_name.sql`` (PostgreSQL, numbered alike:
see :mod:`bot.db.pg_migrate`), read with :mod:`importlib.resources` so they
work from an installed wheel too. Version N is applied when ``user_version <
N``; the file's statements and the version bump commit together or not at all.

These functions are synchronous: they run on the SQLite backend's database
thread (see :mod:`bot.db.sqlite_backend`).

Writing a migration: statements run inside ``BEGIN IMMEDIATE``, so nothing that
refuses a transaction (``VACUUM``, ``PRAGMA journal_mode``) and ``PRAGMA
foreign_keys`` is a no-op there. To change a column or CHECK, follow SQLite's
"12-step" table rebuild (create ``new_x``, copy, drop ``x``, rename); foreign
keys are verified with ``PRAGMA foreign_key_check`` before the commit. Write the
PostgreSQL twin of every new file too.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

from bot.db.errors import StoreError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``version`` (1, 2, ...), its file ``name`` and its SQL text."""

    version: int
    name: str
    sql: str


def load_migrations(package: str = "bot.db", folder: str = "migrations") -> list[Migration]:
    """The packaged migrations in order. Refuses gaps, duplicates and misnamed ``.sql`` files."""
    found: list[Migration] = []
    for entry in resources.files(package).joinpath(folder).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        # A gap would make a half-upgraded database look complete.
        raise ValueError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into single statements (trigger bodies included) for ``execute``.

    ``executescript`` is not used because it commits any open transaction first,
    which would break applying a file atomically.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    leftover = [ln for ln in buffer.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if leftover:
        raise ValueError(f"incomplete SQL statement at end of migration: {leftover[0]!r}")
    return statements


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so a read inside the transaction
    cannot be invalidated by another connection's write before ours.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back whatever transaction is open, without masking the error that caused it."""
    try:
        conn.rollback()
    except Exception:
        log.exception("rollback failed")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database header."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row is not None else 0


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None
) -> int:
    """Bring the schema up to date; return the resulting version.

    Safe against another process migrating the same file at the same time: the
    version is re-read after the write lock is taken. Raises :class:`StoreError`
    if the database is newer than this code, rather than run on a schema it does
    not know.
    """
    if migrations is None:
        migrations = load_migrations()
    latest = migrations[-1].version if migrations else 0
    current = user_version(conn)
    if current > latest:
        raise StoreError(f"database schema v{current} is newer than this bot (v{latest})")
    for migration in migrations:
        if migration.version <= current:
            continue
        with immediate(conn):
            current = user_version(conn)
            if migration.version <= current:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            # PRAGMA cannot take a bound parameter; the version is an int we parsed.
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"{migration.name} leaves broken foreign keys: {broken[:5]}")
        current = migration.version
        log.info("applied migration %s", migration.name)
    return current
