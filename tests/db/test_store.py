"""Store behaviour on one connection: reserving, settling, refunds, updates and reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.db import FinalStatus, Job, QuotaExceeded, Store, TooManyRunning

Reserve = Callable[..., Awaitable[Job]]


async def test_reserve_creates_queued_job_and_reserve_row(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]], noon: datetime
) -> None:
    job = await reserve(cost=2)

    assert job.status == "queued" and not job.is_final
    assert (job.user_id, job.guild_id, job.channel_id, job.cost) == (1, 10, 20, 2)
    assert job.options == {
        "model": "sora-2",
        "duration": 10,
        "orientation": "portrait",
        "hd": False,
    }
    assert job.interaction_token == "tok-secret" and job.application_id == 99
    assert job.day == date(2025, 3, 10)
    assert job.created_at == job.updated_at == noon
    assert job.started_at is None and job.finished_at is None
    assert await store.get_job(job.id) == job
    assert await count("ledger", "job_id = ? AND kind = 'reserve' AND amount = 2", job.id) == 1


@pytest.mark.usefixtures("store")
async def test_job_repr_hides_the_interaction_token(reserve: Reserve) -> None:
    job = await reserve()
    assert "tok-secret" not in repr(job)


async def test_reserve_within_limit_uses_credits(store: Store, reserve: Reserve) -> None:
    for _ in range(3):
        await reserve()
    usage = await store.usage(1, 3, now=datetime(2025, 3, 10, 18, tzinfo=UTC))
    assert (usage.used, usage.limit, usage.remaining) == (3, 3, 0)
    assert usage.resets_at == datetime(2025, 3, 11, tzinfo=UTC)


@pytest.mark.usefixtures("store")
async def test_reserve_past_limit_raises_and_writes_nothing(
    reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    for _ in range(3):
        await reserve()

    with pytest.raises(QuotaExceeded) as refused:
        await reserve()

    assert (refused.value.used, refused.value.limit) == (3, 3)
    assert refused.value.resets_at == datetime(2025, 3, 11, tzinfo=UTC)
    assert await count("jobs") == 3
    assert await count("ledger") == 3


@pytest.mark.usefixtures("store")
async def test_cost_larger_than_remaining_is_refused(reserve: Reserve) -> None:
    await reserve(cost=2)
    with pytest.raises(QuotaExceeded):
        await reserve(cost=2)
    assert (await reserve(cost=1)).cost == 1


async def test_quota_is_per_user(store: Store, reserve: Reserve) -> None:
    for _ in range(3):
        await reserve(user_id=1)
    await reserve(user_id=2)
    assert (await store.usage(2, 3, now=datetime(2025, 3, 10, 13, tzinfo=UTC))).used == 1


async def test_max_running_enforced_until_a_job_ends(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    first = await reserve(max_running=2, daily_limit=10)
    await reserve(max_running=2, daily_limit=10)

    with pytest.raises(TooManyRunning) as refused:
        await reserve(max_running=2, daily_limit=10)

    assert (refused.value.running, refused.value.limit) == (2, 2)
    assert await count("jobs") == 2 and await count("ledger") == 2
    assert await store.running_count(1) == 2
    await store.settle(first.id, "completed")
    assert await store.running_count(1) == 1
    assert (await reserve(max_running=2, daily_limit=10)).status == "queued"


async def test_settle_completed_keeps_the_credit(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]], noon: datetime
) -> None:
    job = await reserve()
    done_at = noon + timedelta(minutes=3)

    assert await store.settle(job.id, "completed", result_url="https://v/1.mp4", now=done_at)

    settled = await store.get_job(job.id)
    assert settled is not None and settled.is_final
    assert settled.status == "completed" and settled.result_url == "https://v/1.mp4"
    assert settled.finished_at == settled.updated_at == done_at
    assert settled.interaction_token is None
    assert (await store.usage(1, 3, now=done_at)).used == 1
    assert await count("ledger", "kind = 'refund'") == 0


@pytest.mark.parametrize("status", ["failed", "cancelled"])
async def test_failed_or_cancelled_refunds_exactly_once(
    store: Store,
    reserve: Reserve,
    count: Callable[..., Awaitable[int]],
    noon: datetime,
    status: FinalStatus,
) -> None:
    job = await reserve(cost=2)

    assert await store.settle(job.id, status, error="content rejected", now=noon)
    assert not await store.settle(job.id, "failed", error="second report", now=noon)
    assert not await store.settle(job.id, "cancelled", now=noon)
    assert not await store.settle(job.id, "completed", result_url="https://late", now=noon)

    settled = await store.get_job(job.id)
    assert settled is not None
    assert (settled.status, settled.error, settled.result_url) == (status, "content rejected", None)
    assert await count("ledger", "job_id = ? AND kind = 'refund' AND amount = -2", job.id) == 1
    assert (await store.usage(1, 3, now=noon)).used == 0


async def test_usage_after_refund_allows_another_video(store: Store, reserve: Reserve) -> None:
    job = await reserve(daily_limit=1)
    with pytest.raises(QuotaExceeded):
        await reserve(daily_limit=1)
    await store.settle(job.id, "failed", error="provider down")
    assert (await reserve(daily_limit=1)).id != job.id


async def test_settle_unknown_job_returns_false(store: Store) -> None:
    assert not await store.settle(12345, "failed")


async def test_reservation_just_before_midnight_counts_for_that_day(
    store: Store, reserve: Reserve
) -> None:
    late = datetime(2025, 3, 10, 23, 59, 59, 999000, tzinfo=UTC)
    job = await reserve(daily_limit=1, now=late)
    assert job.day == date(2025, 3, 10)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(daily_limit=1, now=late)
    assert refused.value.resets_at == datetime(2025, 3, 11, tzinfo=UTC)

    midnight = datetime(2025, 3, 11, tzinfo=UTC)
    assert (await store.usage(1, 1, now=midnight)).used == 0
    fresh = await reserve(daily_limit=1, now=midnight)
    assert fresh.day == date(2025, 3, 11)


async def test_refund_next_day_refunds_the_reserved_day(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    yesterday = datetime(2025, 3, 10, 23, 59, tzinfo=UTC)
    today = datetime(2025, 3, 11, 0, 5, tzinfo=UTC)
    old = await reserve(daily_limit=1, max_running=5, now=yesterday)
    await reserve(daily_limit=1, max_running=5, now=today)

    assert await store.settle(old.id, "failed", now=today)

    assert (await store.usage(1, 1, now=yesterday)).used == 0
    assert (await store.usage(1, 1, now=today)).used == 1
    assert await count("ledger", "kind = 'refund' AND day = '2025-03-10'") == 1
    with pytest.raises(QuotaExceeded):
        await reserve(daily_limit=1, max_running=5, now=today)


async def test_usage_accepts_other_timezones(store: Store, reserve: Reserve) -> None:
    await reserve()
    # 01:00 at UTC+2 is still 23:00 UTC on the reservation day.
    plus_two = datetime(2025, 3, 11, 1, tzinfo=timezone(timedelta(hours=2)))
    usage = await store.usage(1, 3, now=plus_two)
    assert usage.used == 1
    assert usage.resets_at == datetime(2025, 3, 11, tzinfo=UTC)


async def test_update_job_records_progress(store: Store, reserve: Reserve, noon: datetime) -> None:
    job = await reserve()
    later = noon + timedelta(seconds=30)

    changed = await store.update_job(
        job.id, status="running", provider_task_id="task-1", progress=140, message_id=555, now=later
    )

    updated = await store.get_job(job.id)
    assert changed and updated is not None
    assert (updated.status, updated.provider_task_id, updated.message_id) == (
        "running",
        "task-1",
        555,
    )
    assert updated.progress == 100.0
    assert updated.started_at == updated.updated_at == later
    assert updated.channel_id == job.channel_id and updated.prompt == job.prompt

    # started_at records the first start, not the latest status change.
    await store.update_job(job.id, status="running", now=later + timedelta(minutes=1))
    again = await store.get_job(job.id)
    assert again is not None and again.started_at == later


async def test_update_job_accepts_epoch_seconds_for_started_at(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    job = await reserve()
    await store.update_job(job.id, status="running", started_at=noon.timestamp() + 7)
    updated = await store.get_job(job.id)
    assert updated is not None and updated.started_at == noon + timedelta(seconds=7)


async def test_update_job_never_changes_a_final_job(store: Store, reserve: Reserve) -> None:
    job = await reserve()
    await store.settle(job.id, "cancelled")
    before = await store.get_job(job.id)

    changed = await store.update_job(job.id, status="running", progress=50, provider_task_id="x")

    assert not changed
    assert await store.get_job(job.id) == before
    assert await store.running_count(1) == 0


async def test_unfinished_jobs_oldest_first(store: Store, reserve: Reserve, noon: datetime) -> None:
    newer = await reserve(user_id=1, now=noon + timedelta(minutes=5))
    older = await reserve(user_id=2, now=noon)
    done = await reserve(user_id=3, now=noon - timedelta(minutes=5))
    await store.settle(done.id, "completed")

    assert [j.id for j in await store.unfinished_jobs()] == [older.id, newer.id]


async def test_recent_jobs_newest_first_and_paged(store: Store, reserve: Reserve) -> None:
    mine = [await reserve(user_id=7, daily_limit=10) for _ in range(4)]
    await reserve(user_id=8)

    assert [j.id for j in await store.recent_jobs(7)] == [j.id for j in reversed(mine)]
    assert [j.id for j in await store.recent_jobs(7, limit=2, offset=1)] == [mine[2].id, mine[1].id]
    assert await store.recent_jobs(9) == []


async def test_get_job_unknown_is_none(store: Store) -> None:
    assert await store.get_job(1) is None


async def test_invalid_arguments_are_refused_before_sql(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]]
) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await reserve(now=datetime(2025, 3, 10, 12))
    with pytest.raises(ValueError):
        await reserve(cost=-1)
    with pytest.raises(TypeError):
        await reserve(options={"model": object()})
    job = await reserve()
    with pytest.raises(ValueError):
        await store.settle(job.id, "running")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.update_job(job.id, status="completed")  # type: ignore[arg-type]
    assert await count("jobs") == 1


async def test_meta_values_are_stored_and_replaced(store: Store, db_location: str) -> None:
    assert await store.get_meta("command_hash") is None
    await store.set_meta("command_hash", "abc")
    await store.set_meta("command_hash", "def")
    async with Store.open(db_location) as reopened:
        assert await reopened.get_meta("command_hash") == "def"
