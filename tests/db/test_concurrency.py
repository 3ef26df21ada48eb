"""Races and failures: concurrent reservations, a second process, locks, rollbacks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.db import Job, QuotaExceeded, Store, StoreBusy, StoreError, TooManyRunning
from bot.db.plan import run, single
from bot.db.sqlite_backend import SqliteBackend
from tests.db.conftest import on_sqlite_writer

Reserve = Callable[..., Awaitable[Job]]
Raw = Callable[[], sqlite3.Connection]
Args = Callable[..., dict[str, Any]]

FAIL_LEDGER_INSERT = """
CREATE TRIGGER fail_ledger BEFORE INSERT ON ledger
WHEN NEW.kind = '{kind}'
BEGIN SELECT RAISE(ABORT, 'simulated failure'); END
"""


def outcomes(results: list[Job | BaseException]) -> tuple[int, list[type[BaseException]]]:
    """How many calls returned a Job, and the types of the rest."""
    jobs = [r for r in results if isinstance(r, Job)]
    return len(jobs), sorted({type(r) for r in results if not isinstance(r, Job)}, key=str)


async def test_fifty_concurrent_reserves_on_one_store_grant_exactly_the_limit(
    store: Store, count: Callable[..., Awaitable[int]], reserve_args: Args
) -> None:
    calls = [store.reserve(**reserve_args(daily_limit=3, max_running=100)) for _ in range(50)]

    results = await asyncio.gather(*calls, return_exceptions=True)

    assert outcomes(results) == (3, [QuotaExceeded])
    assert await count("jobs") == 3
    assert await count("ledger") == 3


async def test_concurrent_reserves_across_two_connections_grant_exactly_the_limit(
    store: Store, db_location: str, count: Callable[..., Awaitable[int]], reserve_args: Args
) -> None:
    async with Store.open(db_location) as other:
        calls = [
            (store if i % 2 else other).reserve(**reserve_args(daily_limit=3, max_running=100))
            for i in range(50)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)

    assert outcomes(results) == (3, [QuotaExceeded])
    assert await count("jobs") == 3
    assert (await store.usage(1, 3, now=reserve_args()["now"])).used == 3


async def test_concurrent_reserves_respect_max_running(store: Store, reserve_args: Args) -> None:
    calls = [store.reserve(**reserve_args(daily_limit=100, max_running=2)) for _ in range(50)]

    results = await asyncio.gather(*calls, return_exceptions=True)

    assert outcomes(results) == (2, [TooManyRunning])
    assert await store.running_count(1) == 2


async def test_concurrent_settles_refund_once(
    store: Store, db_location: str, reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    job = await reserve()
    async with Store.open(db_location) as other:
        calls = [(store if i % 2 else other).settle(job.id, "failed") for i in range(20)]
        results = await asyncio.gather(*calls)

    assert results.count(True) == 1
    assert await count("ledger", "kind = 'refund'") == 1


async def test_failure_mid_reserve_rolls_back_and_connection_stays_usable(
    db_path: Path,
    sqlite_store: Store,
    reserve: Reserve,
    raw: Raw,
    count: Callable[..., Awaitable[int]],
    reserve_args: Args,
) -> None:
    # The job row is inserted, then the ledger insert fails: both must vanish.
    admin = raw()
    admin.execute(FAIL_LEDGER_INSERT.format(kind="reserve"))

    with pytest.raises(StoreError, match="simulated failure"):
        await reserve()

    assert await count("jobs") == 0 and await count("ledger") == 0
    admin.execute("DROP TRIGGER fail_ledger")
    assert (await reserve()).status == "queued"
    # No transaction was left open: another connection can still take the write lock.
    async with Store.open(db_path, busy_timeout=0.05) as other:
        await other.reserve(**reserve_args(user_id=2))
    assert await count("jobs") == 2


async def test_failure_mid_settle_leaves_the_job_unfinished(
    sqlite_store: Store, reserve: Reserve, raw: Raw, count: Callable[..., Awaitable[int]]
) -> None:
    store = sqlite_store
    job = await reserve()
    admin = raw()
    admin.execute(FAIL_LEDGER_INSERT.format(kind="refund"))

    with pytest.raises(StoreError):
        await store.settle(job.id, "failed", error="boom")

    still = await store.get_job(job.id)
    assert still is not None and still.status == "queued" and still.error is None
    assert await count("ledger", "kind = 'refund'") == 0
    admin.execute("DROP TRIGGER fail_ledger")
    assert await store.settle(job.id, "failed", error="boom")
    assert await count("ledger", "kind = 'refund'") == 1


async def test_disk_full_is_a_store_error_and_writes_nothing(
    sqlite_store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    await reserve()
    # Cap the file at its current size: the next page SQLite needs fails with
    # SQLITE_FULL, the same error a full disk gives. Reaching into the private
    # connection is the only way to set this per-connection limit.
    await on_sqlite_writer(
        sqlite_store, lambda conn: conn.execute("PRAGMA max_page_count = 1").fetchall()
    )
    big = {"padding": "x" * 50_000}

    with pytest.raises(StoreError, match="full") as failed:
        await reserve(options=big)

    assert not isinstance(failed.value, StoreBusy)
    assert await count("jobs") == 1 and await count("ledger") == 1
    await on_sqlite_writer(
        sqlite_store, lambda conn: conn.execute("PRAGMA max_page_count = 1073741823").fetchall()
    )
    assert (await reserve(options=big)).options == big


async def test_write_lock_held_too_long_raises_store_busy(
    db_path: Path, raw: Raw, count: Callable[..., Awaitable[int]], reserve_args: Args
) -> None:
    async with Store.open(db_path, busy_timeout=0.05) as store:
        holder = raw()
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreBusy, match="locked"):
                await store.reserve(**reserve_args())
            # WAL readers are not blocked by the writer.
            assert (await store.usage(1, 3)).used == 0
        finally:
            holder.execute("ROLLBACK")

        assert await count("jobs") == 0
        assert (await store.reserve(**reserve_args())).status == "queued"


async def test_cancelled_reserve_leaves_no_transaction_open(
    db_path: Path, raw: Raw, count: Callable[..., Awaitable[int]], reserve_args: Args
) -> None:
    async with Store.open(db_path) as store:
        holder = raw()
        holder.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(store.reserve(**reserve_args()))
        # One turn of the loop: the task hands its plan to the database thread,
        # whose BEGIN IMMEDIATE then waits on `holder`'s lock.
        await asyncio.sleep(0)
        task.cancel()
        holder.execute("ROLLBACK")
        with pytest.raises(asyncio.CancelledError):
            await task

        assert await count("jobs") == 0
        async with Store.open(db_path, busy_timeout=0.05) as other:
            assert (await other.reserve(**reserve_args())).id == 1
        assert (await store.reserve(**reserve_args())).id == 2


async def test_concurrent_plans_share_commits_and_fail_alone(
    sqlite_store: Store, reserve_args: Args, count: Callable[..., Awaitable[int]]
) -> None:
    backend = sqlite_store._backend
    assert isinstance(backend, SqliteBackend)
    bad = "INSERT INTO meta (key, value, updated_at) VALUES ('k', NULL, 0)"  # NOT NULL

    jobs = [await sqlite_store.reserve(**reserve_args(user_id=i)) for i in range(40)]
    committer = backend.committer
    plans, batches = committer.plans, committer.batches

    # Settlements: a plan each (reservations go as one plan per batch of them).
    calls: list[Awaitable[Any]] = [sqlite_store.settle(job.id, "completed") for job in jobs]
    calls.insert(20, sqlite_store._write(lambda: single(run(bad))))
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert results.count(True) == 40  # the broken plan failed alone...
    assert [type(r) for r in results if r is not True] == [StoreError]
    assert await count("jobs", "status = 'completed'") == 40 and await count("meta") == 0
    assert (
        committer.plans - plans == 41 and committer.batches - batches < 41
    )  # ...in shared commits
