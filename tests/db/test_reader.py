"""SQLite's read-only connection: what runs on it, that it cannot write, the indexes it reads.

The PostgreSQL store runs the same sums in read-only REPEATABLE READ snapshots;
``test_snapshots_see_every_commit`` runs on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from bot.db import Job, Store, StoreError
from bot.db import operator_queries as oq
from bot.db.plan import run, single
from bot.db.reports import RENDER_BUCKETS
from bot.db.sqlite_backend import SqliteBackend

Reserve = Callable[..., Awaitable[Job]]


def sqlite_backend(store: Store) -> SqliteBackend:
    """The store's SQLite backend (these tests are about it)."""
    backend = store._backend
    assert isinstance(backend, SqliteBackend)
    return backend


async def test_snapshots_see_every_commit(store: Store, reserve: Reserve, noon: datetime) -> None:
    job = await reserve(cost=2)
    assert (await store.spend(now=noon)).credits == 2  # committed writes are visible
    await store.stats(10, now=noon)
    snap = await store.metrics_snapshot(now=noon)
    assert snap.by_status == {"queued": 1} and snap.today.credits == 2
    assert store.reader_reads == 3
    await store.mark_submitting(job.id)
    await store.settle(job.id, "failed")
    snap = await store.metrics_snapshot(now=noon)
    assert (snap.by_status, snap.credits_spent) == ({"failed": 1}, 2)


async def test_sums_run_on_the_read_only_connection(sqlite_store: Store, noon: datetime) -> None:
    assert sqlite_backend(sqlite_store)._reader is not None
    await sqlite_store.spend(now=noon)
    await sqlite_store.daily_series(None, days=3, now=noon)
    assert sqlite_store.reader_reads == 2


async def test_snapshots_cannot_write(store: Store) -> None:
    insert = "INSERT INTO meta (key, value, updated_at) VALUES ('x', 'y', 0)"
    with pytest.raises(StoreError):
        await store._snapshot(lambda: single(run(insert)))
    assert await store.get_meta("x") is None


async def test_the_read_only_connection_cannot_write(sqlite_store: Store) -> None:
    backend = sqlite_backend(sqlite_store)
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        await backend.on_connection(lambda conn: conn.execute("DELETE FROM jobs"), reader=True)


async def test_an_in_memory_store_reads_on_its_writer() -> None:
    async with Store.open(":memory:") as store:
        assert sqlite_backend(store)._reader is None
        snap = await store.metrics_snapshot()
        assert snap.by_status == {} and store.reader_reads == 0


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (oq.SPEND_ON_DAY, ("2025-03-10",), "COVERING INDEX jobs_day_spend"),
        (oq.SPEND_ON_DAY_IN_GUILD, ("2025-03-10", 10), "COVERING INDEX jobs_day_spend"),
        (oq.PERIOD_STATS.format(scope=""), ("2025-03-01", "2025-03-10"), "jobs_day_spend"),
        (
            oq.TOTALS_BY_STATUS.format(
                buckets=", ".join(
                    f"SUM(CASE WHEN d <= {b:g} THEN 1 ELSE 0 END)" for b in RENDER_BUCKETS
                )
            ),
            (),
            "COVERING INDEX jobs_status_totals",
        ),
    ],
)
async def test_operator_sums_read_an_index_not_the_table(
    sqlite_store: Store, sql: str, params: tuple[object, ...], index: str
) -> None:
    explain = f"EXPLAIN QUERY PLAN {sql}"
    rows = await sqlite_backend(sqlite_store).on_connection(
        lambda conn: conn.execute(explain, params).fetchall()
    )
    assert any(index in str(row[3]) for row in rows), [row[3] for row in rows]
