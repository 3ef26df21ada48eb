"""Stats and metrics on a known set of jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from bot.db import Job, Store
from bot.db.models import FinalStatus

Reserve = Callable[..., Awaitable[Job]]


async def make_job(
    store: Store,
    reserve: Reserve,
    *,
    at: datetime,
    user: int,
    guild: int,
    cost: int,
    price: int = 0,
    end: FinalStatus | None = None,
    render: float | None = None,
) -> Job:
    """A job reserved at ``at``; started and ended ``render`` seconds later when given."""
    job = await reserve(
        user_id=user,
        guild_id=guild,
        cost=cost,
        price_micros=price,
        daily_limit=100,
        max_running=100,
        now=at,
    )
    if render is not None:
        await store.update_job(job.id, status="running", started_at=at, now=at)
    if end is not None:
        await store.settle(job.id, end, now=at + timedelta(seconds=render or 1))
    return job


@pytest.fixture
async def dataset(store: Store, reserve: Reserve, noon: datetime) -> datetime:
    """Jobs of March 2025 (and one of February) in servers 10 and 11; returns "now"."""
    march_2 = noon - timedelta(days=8)
    await make_job(store, reserve, at=noon, user=1, guild=10, cost=2, price=1_000_000,
                   end="completed", render=60)  # fmt: skip
    await make_job(store, reserve, at=noon, user=1, guild=10, cost=1, end="failed")
    running = await make_job(store, reserve, at=noon, user=2, guild=10, cost=1, price=500_000)
    await store.update_job(running.id, status="running", now=noon)
    await make_job(store, reserve, at=march_2, user=2, guild=10, cost=3, price=2_000_000,
                   end="completed", render=120)  # fmt: skip
    await make_job(store, reserve, at=noon - timedelta(days=5), user=3, guild=10, cost=1,
                   end="cancelled")  # fmt: skip
    february = noon - timedelta(days=11)  # outside the month
    await make_job(store, reserve, at=february, user=1, guild=10, cost=1, end="completed")
    await make_job(store, reserve, at=noon, user=4, guild=11, cost=5, end="completed", render=30)
    return noon + timedelta(hours=1)


async def test_server_stats_today_and_this_month(store: Store, dataset: datetime) -> None:
    stats = await store.stats(10, now=dataset)

    today, month = stats.today, stats.month
    assert (today.jobs, today.completed, today.failed, today.cancelled, today.active) == (
        3,
        1,
        1,
        0,
        1,
    )
    assert (today.credits, today.micros) == (3, 1_500_000)  # the failed job was refunded
    assert (month.jobs, month.completed, month.failed, month.cancelled, month.active) == (
        5,
        2,
        1,
        1,
        1,
    )
    assert (month.credits, month.micros) == (6, 3_500_000)
    assert month.success_rate == pytest.approx(2 / 3)
    assert [(u.user_id, u.jobs, u.credits) for u in stats.busiest] == [
        (2, 2, 4),
        (1, 2, 2),
        (3, 1, 0),
    ]
    # The provider's render time is bot-wide: 60, 120 and 30 seconds this month.
    assert stats.render_avg_seconds == pytest.approx(70)
    assert stats.render_count == 3


async def test_bot_wide_stats_and_spend(store: Store, dataset: datetime) -> None:
    stats = await store.stats(None, now=dataset)
    assert (stats.today.jobs, stats.today.credits) == (4, 8)
    assert stats.busiest[0].user_id == 4
    assert (await store.spend(now=dataset)).credits == 8
    assert (await store.spend(11, now=dataset)).credits == 5
    empty = await store.stats(99, now=dataset)
    assert empty.month.jobs == 0 and empty.month.success_rate is None and empty.busiest == ()


async def test_metrics_snapshot(store: Store, dataset: datetime) -> None:
    snap = await store.metrics_snapshot(now=dataset)
    assert dict(snap.by_status) == {"completed": 4, "failed": 1, "cancelled": 1, "running": 1}
    assert (snap.credits_spent, snap.micros_spent) == (11, 3_000_000)
    buckets = dict(snap.render_buckets)
    assert (buckets[15], buckets[30], buckets[60], buckets[120], buckets[3600]) == (0, 1, 2, 3, 3)
    assert (snap.render_count, snap.render_sum) == (3, pytest.approx(210))
    assert (snap.today.credits, snap.today.micros) == (8, 1_500_000)
