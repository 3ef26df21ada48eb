"""Fixtures for the database tests: a real database per test, and a quick way to reserve.

``store`` and ``db_location`` are parametrized over both backends: a fresh
SQLite file, and a fresh database on the session's PostgreSQL server (see
:mod:`tests.support.postgres`). Tests about SQLite itself (its read-only
connection, its write lock, its pragmas) use ``sqlite_store`` and ``raw``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from bot.db import Job, Store
from bot.db.dialect import postgres_args
from bot.db.sqlite_backend import SqliteBackend
from tests.support.postgres import fresh_database

T = TypeVar("T")

# A fixed instant well inside a UTC day; tests move across midnight explicitly.
NOON = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

Reserve = Callable[..., Awaitable[Job]]


@pytest.fixture
def noon() -> datetime:
    """The default ``now`` of the ``reserve`` fixture: 2025-03-10 12:00 UTC."""
    return NOON


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database path whose parent directory does not exist yet."""
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on; every store test runs on both."""
    return str(request.param)


@pytest.fixture
async def db_location(
    backend: str, db_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """Where the test's fresh database is: a SQLite path or a PostgreSQL URL."""
    if backend == "sqlite":
        yield str(db_path)
        return
    server = request.getfixturevalue("postgres_server")
    async with fresh_database(server) as url:
        yield url


@pytest.fixture
async def store(db_location: str) -> AsyncIterator[Store]:
    """An open, migrated Store on a fresh database of either backend."""
    async with Store.open(db_location) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[Store]:
    """An open, migrated Store on a fresh SQLite file (tests about SQLite itself)."""
    async with Store.open(db_path) as opened:
        yield opened


def _reserve_args(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for Store.reserve with sensible defaults."""
    args: dict[str, Any] = {
        "user_id": 1,
        "guild_id": 10,
        "channel_id": 20,
        "prompt": "a cat surfing",
        "options": {"model": "sora-2", "duration": 10, "orientation": "portrait", "hd": False},
        "image_url": "https://cdn.example/cat.png",
        "protocol": "chat",
        "cost": 1,
        "daily_limit": 3,
        "max_running": 10,
        "interaction_token": "tok-secret",
        "application_id": 99,
        "now": NOON,
    }
    args.update(overrides)
    return args


@pytest.fixture
def reserve(request: pytest.FixtureRequest) -> Reserve:
    """``await reserve(**overrides)`` reserves on the test's store with default arguments."""

    # The test's own store: ``sqlite_store`` when it asked for that, else ``store``.
    name = "sqlite_store" if "sqlite_store" in request.fixturenames else "store"
    store: Store = request.getfixturevalue(name)

    async def _reserve(**overrides: Any) -> Job:
        return await store.reserve(**_reserve_args(**overrides))

    return _reserve


@pytest.fixture(name="reserve_args")
def reserve_args_fixture() -> Callable[..., dict[str, Any]]:
    """``reserve_args(**overrides)``: keyword arguments for ``Store.reserve`` (any store)."""
    return _reserve_args


@pytest.fixture
def raw(db_path: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """Open plain sqlite3 connections to the test file (a second 'process'); closed after."""
    opened: list[sqlite3.Connection] = []

    def _connect() -> sqlite3.Connection:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=5)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


Count = Callable[..., Awaitable[int]]


async def on_sqlite_writer(store: Store, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn(writer)`` on the SQLite store's writer thread, for the few tests that set pragmas.

    Between two of the store's transactions: the connection belongs to its own thread.
    """
    backend = store._backend
    assert isinstance(backend, SqliteBackend)
    return await backend.on_connection(fn)


@pytest.fixture
def execute(request: pytest.FixtureRequest, db_path: Path) -> Callable[..., Awaitable[None]]:
    """``await execute(sql, *params)``: a write from outside the store (another process)."""
    names = request.fixturenames
    location = str(db_path)
    if "db_location" in names and "sqlite_store" not in names:
        location = str(request.getfixturevalue("db_location"))

    async def _execute(sql: str, *params: Any) -> None:
        if not location.startswith("postgresql://"):
            with closing(sqlite3.connect(location, isolation_level=None)) as conn:
                conn.execute(sql, params)
            return
        conn = await asyncpg.connect(location)
        try:
            text, args = postgres_args(sql, params)
            await conn.execute(text, *args)
        finally:
            await conn.close()

    return _execute


@pytest.fixture
def count(request: pytest.FixtureRequest, db_path: Path) -> Count:
    """``await count(table, where='', *params)``: rows in a table, read on a separate connection.

    Reads the test's database whichever the backend (``?`` placeholders on both).
    """
    names = request.fixturenames
    location = str(db_path)
    if "db_location" in names and "sqlite_store" not in names:
        location = str(request.getfixturevalue("db_location"))

    async def _count(table: str, where: str = "", *params: Any) -> int:
        sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
        if not location.startswith("postgresql://"):
            with closing(sqlite3.connect(location)) as conn:
                return int(conn.execute(sql, params).fetchone()[0])
        conn = await asyncpg.connect(location)
        try:
            text, args = postgres_args(sql, params)
            return int(await conn.fetchval(text, *args))
        finally:
            await conn.close()

    return _count
