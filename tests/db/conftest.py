"""Fixtures for the database tests: a real SQLite file per test, and a quick way to reserve."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.db import Job, Store

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


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    """An open, migrated Store on a fresh file."""
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
def reserve(store: Store) -> Reserve:
    """``await reserve(**overrides)`` reserves on the test's store with default arguments."""

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


@pytest.fixture
def count(raw: Callable[[], sqlite3.Connection]) -> Callable[..., int]:
    """``count(table, where='', *params)``: rows in a table, read on a separate connection."""
    # Connected on first use, so the file is created by Store.open, not by us.
    conns: list[sqlite3.Connection] = []

    def _count(table: str, where: str = "", *params: Any) -> int:
        if not conns:
            conns.append(raw())
        sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conns[0].execute(sql, params).fetchone()[0])

    return _count
