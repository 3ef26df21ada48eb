"""Monitoring never slows a member down: scrapes and health checks beside reservations."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.db import Job, Store
from bot.db.sqlite_backend import SqliteBackend
from bot.ops.cache import Fresh
from bot.ops.metrics import Metrics
from bot.ops.server import HealthChecks

# Generous guards so a regression fails instead of hanging; never timing assertions.
GUARD = 30.0
SEEDED = 50_000


def seed(path: Path, n: int = SEEDED) -> None:
    """``n`` finished jobs of other members over a month, in one executemany."""
    conn = sqlite3.connect(path, isolation_level=None)
    rows = [
        (
            10_000 + i % 500,
            10,
            20,
            "p",
            "chat",
            1 + i % 3,
            f"2025-03-{1 + i % 28:02d}",
            1e9 + i,
            1e9 + i,
            1e9 + i,
            1e9 + i + 60 + i % 400,
            ("completed", "failed", "cancelled")[i % 3],
            1e9 + i if i % 3 != 2 else None,
        )
        for i in range(n)
    ]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (user_id, guild_id, channel_id, prompt, protocol, cost, day,"
        " created_at, updated_at, started_at, finished_at, status, submitted_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
async def big_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store whose file already holds 50k jobs."""
    path = tmp_path / "big.sqlite3"
    async with Store.open(path) as store:
        seed(path)
        yield store


async def test_a_reservation_completes_while_scrapes_are_held_mid_query(
    big_store: Store,
) -> None:
    store = big_store
    backend = store._backend
    assert isinstance(backend, SqliteBackend)
    entered, release = threading.Event(), threading.Event()

    def hold() -> int:
        # Runs on the read connection's thread, inside the scrape's query.
        entered.set()
        release.wait(GUARD)
        return 0  # carry on

    # On the read connection's own thread (from the loop, sqlite3 would block it).
    await backend.on_connection(lambda conn: conn.set_progress_handler(hold, 1000), reader=True)
    metrics = Metrics()
    scrapes = [asyncio.create_task(metrics.render(store)) for _ in range(10)]
    assert await asyncio.to_thread(entered.wait, GUARD)  # a scrape is mid-query now

    job = await asyncio.wait_for(
        store.reserve(
            user_id=1, guild_id=10, channel_id=20, prompt="a cat", options={},
            image_url=None, protocol="chat", cost=1, daily_limit=3, max_running=1,
        ),
        GUARD,
    )  # fmt: skip
    assert isinstance(job, Job)
    await store.mark_submitting(job.id)
    assert await store.settle(job.id, "completed")
    assert not any(scrape.done() for scrape in scrapes)  # still held: not in the way

    release.set()
    await backend.on_connection(lambda conn: conn.set_progress_handler(None, 1000), reader=True)
    pages = await asyncio.wait_for(asyncio.gather(*scrapes), GUARD)
    assert len(set(pages)) == 1  # ten scrapes, one shared snapshot...
    assert store.reader_reads == 1  # ...read once, on the read-only connection
    assert b"sora_jobs_finished_total" in pages[0]


async def test_scrapes_share_a_recent_snapshot_and_refresh_after_max_age(
    tmp_path: Path,
) -> None:
    now = [100.0]
    async with Store.open(tmp_path / "db.sqlite3") as store:
        metrics = Metrics()
        metrics._fresh = (store, Fresh(store.metrics_snapshot, max_age=5, clock=lambda: now[0]))
        first = await metrics.render(store)
        job = await store.reserve(
            user_id=1, guild_id=10, channel_id=20, prompt="a cat", options={},
            image_url=None, protocol="chat", cost=1, daily_limit=3, max_running=1,
        )  # fmt: skip
        now[0] += 4
        assert await metrics.render(store) == first  # 4 s old: served again
        now[0] += 2
        fresh = await metrics.render(store)
        assert b'sora_jobs{state="queued"} 1.0' in fresh and fresh != first
        assert store.reader_reads == 2
        assert await store.settle(job.id, "cancelled")


async def test_concurrent_health_checks_share_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        Store.open(tmp_path / "db.sqlite3") as store,
    ):
        checks = HealthChecks(
            connected=lambda: True,
            store=store,
            session=session,
            provider_url="http://127.0.0.1:1/",
            provider_timeout=0.5,
        )
        entered, go = asyncio.Event(), asyncio.Event()
        writes: list[None] = []
        real_write = store.health_write

        async def slow_write() -> None:  # a write that waits, e.g. for a busy database
            writes.append(None)
            entered.set()
            await go.wait()
            await real_write()

        monkeypatch.setattr(store, "health_write", slow_write)
        waiting = [asyncio.create_task(checks.database()) for _ in range(20)]
        # Tasks run in creation order: by the time the first write has started
        # and this test runs again, the other 19 checks have asked and wait.
        await entered.wait()
        go.set()
        results = await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
        assert all(r.ok for r in results)
        # The 19 asked while one write was under way: they share the next one.
        assert 1 <= len(writes) == checks.database_writes <= 2
        assert (await checks.database()).ok and len(writes) == checks.database_writes


async def test_fresh_shares_concurrent_runs_and_does_not_keep_failures() -> None:
    started, go = asyncio.Event(), asyncio.Event()
    calls: list[int] = []

    async def load() -> int:
        calls.append(len(calls))
        started.set()
        await go.wait()
        if len(calls) == 2:
            raise RuntimeError("boom")
        return len(calls)

    fresh = Fresh(load, max_age=60)
    first = asyncio.create_task(fresh.get())
    await started.wait()
    others = [asyncio.create_task(fresh.get()) for _ in range(5)]
    go.set()
    assert await first == 1 and await asyncio.gather(*others) == [1] * 5
    assert fresh.runs == 1
    fresh.forget()
    with pytest.raises(RuntimeError):
        await fresh.get()
    assert await fresh.get() == 3 and fresh.runs == 3
    with pytest.raises(ValueError):
        Fresh(load, max_age=-1)
