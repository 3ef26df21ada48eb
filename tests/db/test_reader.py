"""The read-only connection: what runs on it, that it cannot write, and the indexes it reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from bot.db import Job, Store, StoreError
from bot.db import operator_queries as oq
from bot.db.reports import RENDER_BUCKETS

Reserve = Callable[..., Awaitable[Job]]


async def test_sums_run_on_the_read_only_connection_and_see_every_commit(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    assert store._reader is not None
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


async def test_the_read_only_connection_cannot_write(store: Store) -> None:
    assert store._reader is not None
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        await store._reader.execute("DELETE FROM jobs")
    with pytest.raises(StoreError):
        async with store._reading() as conn:
            await conn.execute("INSERT INTO meta (key, value, updated_at) VALUES ('x', 'y', 0)")


async def test_an_in_memory_store_reads_on_its_writer() -> None:
    async with Store.open(":memory:") as store:
        assert store._reader is None
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
                buckets=", ".join(f"SUM(d <= {b:g})" for b in RENDER_BUCKETS)
            ),
            (),
            "COVERING INDEX jobs_status_totals",
        ),
    ],
)
async def test_operator_sums_read_an_index_not_the_table(
    store: Store, sql: str, params: tuple[object, ...], index: str
) -> None:
    plan = await store._conn.execute_fetchall(f"EXPLAIN QUERY PLAN {sql}", params)
    assert any(index in str(row[3]) for row in plan), [row[3] for row in plan]
