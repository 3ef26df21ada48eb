"""What only PostgreSQL has: its migrations under an advisory lock, its locks, its URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from bot.db import Store, StoreBusy, StoreError
from bot.db.dialect import member_lock, postgres_args, postgres_sql, redact_url
from bot.db.migrate import Migration, load_migrations
from bot.db.pg_migrate import apply_pg_migrations, postgres_migrations, schema_version
from tests.support.postgres import fresh_database

Args = Callable[..., dict[str, Any]]


@pytest.fixture
async def pg_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server."""
    async with fresh_database(postgres_server) as url:
        yield url


def test_every_sqlite_migration_has_a_postgresql_twin() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations()]
    assert [(m.version, m.name) for m in postgres_migrations()] == sqlite


async def test_several_processes_starting_at_once_migrate_once(pg_url: str) -> None:
    async def open_and_count() -> int:
        async with Store.open(pg_url, pool_size=2) as store:
            return await store.running_count(1)

    assert await asyncio.gather(*(open_and_count() for _ in range(6))) == [0] * 6
    conn = await asyncpg.connect(pg_url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in versions] == [m.version for m in postgres_migrations()]
    finally:
        await conn.close()


async def test_newer_schema_is_refused(pg_url: str) -> None:
    async with Store.open(pg_url):
        pass
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 0)")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer"):
        async with Store.open(pg_url):
            pass


async def test_failing_migration_rolls_back_completely(pg_url: str) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "0002_b.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO missing VALUES (1);")
    conn = await asyncpg.connect(pg_url)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await apply_pg_migrations(conn, [good, bad])
        assert await schema_version(conn) == 1
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        fixed = Migration(2, "0002_b.sql", "CREATE TABLE b (x INTEGER);")
        assert await apply_pg_migrations(conn, [good, fixed]) == 2
        # The migration lock was released each time: another session can take it.
        other = await asyncpg.connect(pg_url)
        try:
            assert await apply_pg_migrations(other, [good, fixed]) == 2
        finally:
            await other.close()
    finally:
        await conn.close()


async def test_a_member_locked_too_long_raises_store_busy_and_writes_nothing(
    pg_url: str, reserve_args: Args
) -> None:
    async with Store.open(pg_url, busy_timeout=0.05) as store:
        holder = await asyncpg.connect(pg_url)
        try:
            async with holder.transaction():
                await holder.execute("SELECT pg_advisory_xact_lock($1)", member_lock(1))
                with pytest.raises(StoreBusy):
                    await store.reserve(**reserve_args())
                # Another member is not held up by this one.
                assert (await store.reserve(**reserve_args(user_id=2))).status == "queued"
        finally:
            await holder.close()
        assert await store.running_count(1) == 0
        assert (await store.reserve(**reserve_args())).status == "queued"


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = "postgresql://bot:hunter2@127.0.0.1:1/nothing"
    with pytest.raises(StoreError) as failed:
        async with Store.open(url, busy_timeout=0.5):
            pass
    assert "hunter2" not in str(failed.value)
    assert "127.0.0.1:1" in str(failed.value)


async def test_the_store_names_its_server_without_the_password(postgres_server: str) -> None:
    async with fresh_database(postgres_server) as url:
        secret = url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
        async with Store.open(secret) as store:
            assert "s3cret" not in store.path and store.backend_name == "postgresql"


def test_placeholders_become_numbered_in_order() -> None:
    assert postgres_sql("SELECT ? + ?, '?' FROM t WHERE a = ?") == (
        "SELECT $1 + $2, '?' FROM t WHERE a = $3",
        3,
    )
    text, args = postgres_args("SELECT :b, :a, :b, 'x:y' FROM t", {"a": 1, "b": 2, "unused": 3})
    assert (text, args) == ("SELECT $1, $2, $1, 'x:y' FROM t", [2, 1])
    with pytest.raises(ValueError, match="mix"):
        postgres_sql("SELECT ?, :a")
    with pytest.raises(ValueError, match="placeholders"):
        postgres_args("SELECT ?", (1, 2))


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://bot:pw@db:5432/sora") == "postgresql://bot:***@db:5432/sora"
    assert redact_url("postgresql://bot@db/sora") == "postgresql://bot@db/sora"
