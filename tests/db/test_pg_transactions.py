"""PostgreSQL transactions as the backend sends them: few round trips, nothing left open.

A write plan's leading locks go out with its ``BEGIN`` in one simple query, a
settlement is one statement without ``BEGIN``/``COMMIT``, and the backend
opens and ends transactions itself (not through asyncpg's ``transaction()``).
These check that a failure, a refusal or a cancellation still leaves no
transaction, lock or row behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from bot.db import QuotaExceeded, Store, StoreError
from bot.db.dialect import member_lock
from bot.db.pg_backend import begin_sql
from tests.support.postgres import fresh_database

Args = Callable[..., dict[str, Any]]

FAIL_LEDGER = """
CREATE FUNCTION fail_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'simulated failure'; END $$;
CREATE TRIGGER fail_ledger BEFORE INSERT ON ledger
FOR EACH ROW WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION fail_ledger();
"""
DROP_FAIL = "DROP TRIGGER fail_ledger ON ledger; DROP FUNCTION fail_ledger()"


@pytest.fixture
async def pg_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server."""
    async with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A second connection: another process, or the operator at a psql prompt."""
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


async def open_transactions(admin: asyncpg.Connection) -> int:
    """Sessions of this database inside a transaction, other than ``admin``'s own."""
    return int(
        await admin.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
        )
    )


def test_locks_are_written_as_integers_only() -> None:
    assert begin_sql("BEGIN", [3, -7]) == (
        "BEGIN; SELECT pg_advisory_xact_lock(3); SELECT pg_advisory_xact_lock(-7)"
    )
    with pytest.raises(ValueError):
        begin_sql("BEGIN", ["1); DROP TABLE jobs; --"])  # type: ignore[list-item]


async def test_a_failing_reservation_writes_nothing_and_the_pool_stays_usable(
    pg_url: str, admin: asyncpg.Connection, reserve_args: Args
) -> None:
    async with Store.open(pg_url, pool_size=1) as store:
        await admin.execute(FAIL_LEDGER.format(kind="reserve"))
        with pytest.raises(StoreError, match="simulated failure"):
            await store.reserve(**reserve_args())
        assert await admin.fetchval("SELECT COUNT(*) FROM jobs") == 0
        await admin.execute(DROP_FAIL)
        # A refusal raised by the plan itself also ends its transaction.
        with pytest.raises(QuotaExceeded):
            await store.reserve(**reserve_args(daily_limit=0))
        assert await open_transactions(admin) == 0
        assert (await store.reserve(**reserve_args())).id == 2  # the first id was rolled back


async def test_a_failing_settlement_leaves_the_job_unfinished(
    pg_url: str, admin: asyncpg.Connection, reserve_args: Args
) -> None:
    async with Store.open(pg_url, pool_size=1) as store:
        job = await store.reserve(**reserve_args())
        await admin.execute(FAIL_LEDGER.format(kind="refund"))
        with pytest.raises(StoreError, match="simulated failure"):
            await store.settle(job.id, "failed", error="boom")
        still = await store.get_job(job.id)
        assert still is not None and still.status == "queued" and still.error is None
        await admin.execute(DROP_FAIL)
        assert await store.settle(job.id, "failed", error="boom")
        assert await admin.fetchval("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'") == 1


async def until(admin: asyncpg.Connection, sql: str) -> None:
    """Poll the server (bounded) until ``sql`` returns a true value: its state, not a guess."""
    for _ in range(1000):
        if await admin.fetchval(sql):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never true: {sql}")


async def test_a_reservation_cancelled_while_waiting_for_the_lock_leaves_nothing_open(
    pg_url: str, admin: asyncpg.Connection, reserve_args: Args
) -> None:
    waiting = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    async with Store.open(pg_url, pool_size=2, busy_timeout=5) as store:
        async with admin.transaction():
            await admin.execute("SELECT pg_advisory_xact_lock($1)", member_lock(1))
            task = asyncio.create_task(store.reserve(**reserve_args()))
            await until(admin, waiting)  # the store's BEGIN waits on the member's lock
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # Had the cancelled BEGIN lived on, it would now hold the member's lock in a
        # transaction nobody ends, and these would wait for it until StoreBusy.
        assert (await store.reserve(**reserve_args())).id == 1
        async with Store.open(pg_url, busy_timeout=1) as other:
            assert (await other.reserve(**reserve_args())).id == 2
        await until(admin, "SELECT COUNT(*) = 0 FROM pg_locks WHERE locktype = 'advisory'")
        assert await open_transactions(admin) == 0
