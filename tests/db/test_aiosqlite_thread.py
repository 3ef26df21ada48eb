"""The one piece of aiosqlite the SQLite backend relies on beyond its public API.

:func:`bot.db.connection.on_thread` runs a whole plan (or a group commit's
batch) on an aiosqlite connection's own thread through the private
``Connection._execute`` and ``Connection._conn``. These tests fail loudly if a
new aiosqlite release renames them or changes what they do, before the store's
own tests fail in stranger ways.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

from bot.db import StoreError
from bot.db.connection import on_thread
from bot.db.plan import run, single
from bot.db.sqlite_backend import SqliteBackend


class Boom(Exception):
    """Raised on the connection's thread, expected back on the loop."""


def test_the_private_members_on_thread_uses_exist() -> None:
    message = "aiosqlite changed: update bot.db.connection.on_thread and the pin in pyproject.toml"
    assert callable(getattr(aiosqlite.Connection, "_execute", None)), message
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property), message


async def test_on_thread_runs_on_the_connection_s_own_thread(tmp_path: Path) -> None:
    # aiosqlite's default check_same_thread=True: the sqlite3 connection refuses
    # any thread but the one that opened it, so a statement that runs proves the thread.
    async with aiosqlite.connect(tmp_path / "t.sqlite3", isolation_level=None) as conn:

        def work(raw: sqlite3.Connection, value: int) -> tuple[int, int]:
            raw.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
            raw.execute("INSERT INTO t VALUES (?)", (value,))
            return threading.get_ident(), value

        first, got = await on_thread(conn, work, 7)
        second, _ = await on_thread(conn, work, 8)
        assert got == 7
        assert first == second != threading.get_ident()
        # The same sqlite3 connection the public API uses: it sees both rows.
        rows = await conn.execute_fetchall("SELECT v FROM t ORDER BY v")
        assert [tuple(row) for row in rows] == [(7,), (8,)]


async def test_on_thread_propagates_the_function_s_exception(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "t.sqlite3") as conn:

        def fail(raw: sqlite3.Connection) -> None:
            raise Boom("from the database thread")

        with pytest.raises(Boom, match="from the database thread"):
            await on_thread(conn, fail)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await on_thread(conn, lambda raw: raw.execute("SELECT * FROM missing"))
        # The thread survives an exception: the next call runs.
        assert await on_thread(conn, lambda raw: raw.execute("SELECT 41 + 1").fetchone()[0]) == 42


async def test_on_thread_refuses_a_closed_connection(tmp_path: Path) -> None:
    conn = await aiosqlite.connect(tmp_path / "t.sqlite3")
    await conn.close()
    with pytest.raises(ValueError):
        await on_thread(conn, lambda raw: raw.execute("SELECT 1"))


async def test_a_write_after_close_is_a_store_error_not_a_hang(tmp_path: Path) -> None:
    backend = await SqliteBackend.open(str(tmp_path / "bot.sqlite3"), busy_timeout=1.0)
    await backend.close()
    with pytest.raises(StoreError, match="closed"):
        await backend.write(lambda: single(run("DELETE FROM meta")))
    assert backend.committer.plans == 0
