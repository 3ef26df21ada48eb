"""The operator's spend counts what the provider bills; refunds cannot buy endless renders."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.db import BudgetExceeded, Job, QuotaExceeded, SpendCap, Store, StoreError
from bot.db.errors import NotSubmittable, RenderLimitExceeded
from tests.db.conftest import on_sqlite_writer

Reserve = Callable[..., Awaitable[Job]]
Args = Callable[..., dict[str, Any]]
Raw = Callable[[], sqlite3.Connection]

BOT_CAP = (SpendCap("bot", credits=2),)


async def submit_then(store: Store, job: Job, status: str, *, refund: bool = True) -> None:
    """The job reaches the provider, then ends as ``status``."""
    await store.mark_submitting(job.id)
    assert await store.settle(job.id, status, refund=refund)  # type: ignore[arg-type]


async def rounds(
    store: Store, reserve: Reserve, n: int, status: str, *, refund: bool, **overrides: Any
) -> list[type[Exception] | int]:
    """``n`` rounds of reserve, submit, end; each round's job id or refusal type."""
    seen: list[type[Exception] | int] = []
    for i in range(n):
        args = {"daily_limit": 100, "max_running": 100, "caps": BOT_CAP, **overrides}
        if "user_id" not in overrides:
            args["user_id"] = 100 + i  # a new member each round: only the bot's cap applies
        try:
            job = await reserve(**args)
        except (QuotaExceeded, BudgetExceeded) as exc:
            seen.append(type(exc))
            continue
        await submit_then(store, job, status, refund=refund)
        seen.append(job.id)
    return seen


async def test_cancelling_after_submission_cannot_get_past_the_bot_cap(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    seen = await rounds(store, reserve, 10, "cancelled", refund=False, user_id=1)

    assert [isinstance(s, int) for s in seen] == [True, True] + [False] * 8
    assert set(seen[2:]) == {BudgetExceeded}
    assert (await store.spend(now=noon)).credits == 2  # what the provider billed
    assert (await store.usage(1, 100, now=noon)).used == 2  # the member kept no refund


async def test_refunded_failures_after_submission_still_count_against_the_caps(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    server_cap = (SpendCap("server", credits=3),)
    seen = await rounds(store, reserve, 10, "failed", refund=True, caps=server_cap)

    assert sum(isinstance(s, int) for s in seen) == 3
    assert (await store.spend(10, now=noon)).credits == 3
    assert (await store.spend(now=noon)).credits == 3
    for user in range(100, 110):
        assert (await store.usage(user, 100, now=noon)).used == 0  # every member refunded
    stats = await store.stats(10, now=noon)
    assert (stats.today.failed, stats.today.credits) == (3, 3)
    snap = await store.metrics_snapshot(now=noon)
    assert (snap.credits_spent, snap.today.credits) == (3, 3)


async def test_jobs_ended_before_submission_cost_the_operator_nothing(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    for status in ("cancelled", "failed", "cancelled"):
        job = await reserve(daily_limit=100, max_running=100, caps=BOT_CAP)
        assert await store.settle(job.id, status)  # type: ignore[arg-type]

    assert (await store.spend(now=noon)).credits == 0
    assert (await store.usage(1, 100, now=noon)).used == 0
    # Neither the cap (2) nor the member's render gate (2 + no allowance) remembers them.
    kept = await reserve(daily_limit=2, refund_allowance=0, caps=BOT_CAP, cost=2)
    assert (await store.spend(now=noon)).credits == 2 and kept.submitted_at is None


async def test_a_submission_the_provider_refused_leaves_the_spend_and_the_gate(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    refused = await reserve(daily_limit=1, refund_allowance=0, caps=BOT_CAP)
    await store.mark_submitting(refused.id)
    assert (await store.spend(now=noon)).credits == 1  # on its way: it may be billed
    assert await store.settle(refused.id, "failed", refused=True)

    assert (await store.spend(now=noon)).credits == 0  # answered with a refusal: never taken
    assert (await store.get_job(refused.id)).submitted_at is None  # type: ignore[union-attr]
    # The render gate (limit 1, no allowance) does not count it either.
    again = await reserve(daily_limit=1, refund_allowance=0, caps=BOT_CAP)
    await store.mark_submitting(again.id)
    await store.update_job(again.id, provider_task_id="task-1")
    # Once the provider gave the job an id it took it: a late "refused" changes nothing.
    assert await store.settle(again.id, "failed", refused=True)
    assert (await store.spend(now=noon)).credits == 1


async def test_a_job_under_way_holds_its_place_under_the_cap(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    queued = await reserve(user_id=5, max_running=100, caps=BOT_CAP, cost=2)
    with pytest.raises(BudgetExceeded):
        await reserve(user_id=6, max_running=100, caps=BOT_CAP)
    assert await store.settle(queued.id, "cancelled")  # never sent: frees the cap
    await reserve(user_id=6, max_running=100, caps=BOT_CAP)


async def test_render_gate_stops_endless_refunded_failures(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    seen = await rounds(store, reserve, 8, "failed", refund=True, user_id=1, daily_limit=3, caps=())

    assert [isinstance(s, int) for s in seen] == [True] * 5 + [False] * 3  # 3 + allowance 2
    assert set(seen[5:]) == {RenderLimitExceeded}
    assert (await store.usage(1, 3, now=noon)).used == 0  # every failure was refunded
    with pytest.raises(RenderLimitExceeded) as refused:
        await reserve(daily_limit=3, caps=())
    exc = refused.value
    assert isinstance(exc, QuotaExceeded) and exc.reason == "renders"
    assert (exc.rendered, exc.limit, exc.allowance, exc.cost, exc.remaining) == (5, 3, 2, 1, 0)
    assert exc.resets_at == noon.replace(hour=0) + timedelta(days=1)
    # Another member, and the same member tomorrow, are not affected.
    await reserve(user_id=2, daily_limit=3)
    await reserve(daily_limit=3, now=noon + timedelta(days=1))


async def test_render_gate_allowance_and_extra_credits(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    await store.add_extra_credits(10, 1, 2, actor_id=9, now=noon)
    seen = await rounds(
        store, reserve, 6, "failed", refund=True, user_id=1, daily_limit=1, use_extra=True,
        refund_allowance=1, caps=(),
    )  # fmt: skip
    # limit 1 + extra 2 + allowance 1: four renders, each refunded to where it came from.
    assert [isinstance(s, int) for s in seen] == [True] * 4 + [False] * 2
    assert set(seen[4:]) == {RenderLimitExceeded}
    assert (await store.member_settings(10, 1)).extra_credits == 2
    with pytest.raises(ValueError, match="must not be negative"):
        await reserve(refund_allowance=-1)


async def test_concurrent_reservations_never_overshoot_the_cap(
    store: Store, db_location: str, reserve_args: Args, noon: datetime
) -> None:
    cap = (SpendCap("bot", credits=5),)
    async with Store.open(db_location) as other:
        stores = (store, other)

        async def attempt(i: int) -> Job | BaseException:
            args = reserve_args(user_id=1000 + i, max_running=100, caps=cap)
            try:
                job = await stores[i % 2].reserve(**args)
            except BudgetExceeded as exc:
                return exc
            await stores[i % 2].mark_submitting(job.id)
            await stores[i % 2].settle(job.id, "failed")  # refunded, still billed
            return job

        first = await asyncio.gather(*(attempt(i) for i in range(40)))
        again = await asyncio.gather(*(attempt(i) for i in range(40, 80)))

    assert sum(isinstance(r, Job) for r in first) == 5
    assert all(isinstance(r, BudgetExceeded) for r in again)
    assert (await store.spend(now=noon)).credits == 5


async def test_concurrent_reservations_of_one_member_respect_the_render_gate(
    store: Store, reserve_args: Args, noon: datetime
) -> None:
    args = reserve_args(daily_limit=3, max_running=100, refund_allowance=2)
    first = await store.reserve(**args)
    await submit_then(store, first, "failed")  # refunded, so 3 credits are left
    results = await asyncio.gather(
        *(store.reserve(**args) for _ in range(20)), return_exceptions=True
    )
    granted = [r for r in results if isinstance(r, Job)]
    assert len(granted) == 3  # the day's credits, not the gate, end it
    assert {type(r) for r in results if not isinstance(r, Job)} == {QuotaExceeded}
    for job in granted:
        await submit_then(store, job, "failed")
    # 4 rendered: one more fits the gate (3 + 2), then the gate refuses.
    await submit_then(store, await store.reserve(**args), "failed")
    with pytest.raises(RenderLimitExceeded):
        await store.reserve(**args)


async def test_mark_submitting_commits_with_a_full_sync_then_normal_again(
    sqlite_store: Store, reserve: Reserve
) -> None:
    job = await reserve()
    await sqlite_store.mark_submitting(job.id)
    synchronous = await on_sqlite_writer(
        sqlite_store, lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]
    )
    assert synchronous == 1  # NORMAL
    marked = await sqlite_store.get_job(job.id)
    assert marked is not None and marked.submitted_at is not None


async def test_mark_submitting_records_once_and_refuses_clearly(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    job = await reserve()
    later = noon + timedelta(seconds=5)
    await store.mark_submitting(job.id, now=later)
    marked = await store.get_job(job.id)
    assert marked is not None
    assert (marked.status, marked.submitted_at, marked.started_at) == ("submitted", later, later)

    with pytest.raises(NotSubmittable) as twice:
        await store.mark_submitting(job.id)
    assert twice.value.already and twice.value.status == "submitted"
    assert isinstance(twice.value, StoreError)

    cancelled = await reserve()
    await store.settle(cancelled.id, "cancelled")
    with pytest.raises(NotSubmittable, match="it is cancelled") as final:
        await store.mark_submitting(cancelled.id)
    assert not final.value.already
    with pytest.raises(NotSubmittable, match="no such job"):
        await store.mark_submitting(999_999)
    after = await store.get_job(cancelled.id)
    assert after is not None and after.submitted_at is None


async def test_a_provider_task_id_makes_a_job_billable(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    job = await reserve(caps=BOT_CAP)
    await store.update_job(job.id, status="running", now=noon)
    running = await store.get_job(job.id)
    assert running is not None and running.submitted_at is None  # a slot is not a submission
    await store.update_job(job.id, provider_task_id="task-1", now=noon)
    await store.settle(job.id, "failed")
    billed = await store.get_job(job.id)
    assert billed is not None and billed.submitted_at == noon
    assert (await store.spend(now=noon)).credits == 1


async def test_settle_without_refund_keeps_extra_credits_spent(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    await store.add_extra_credits(10, 1, 1, actor_id=9, now=noon)
    job = await reserve(daily_limit=0, use_extra=True)
    assert job.extra_used == 1
    await submit_then(store, job, "cancelled", refund=False)
    assert (await store.member_settings(10, 1)).extra_credits == 0
    done = await reserve(daily_limit=5)
    await store.mark_submitting(done.id)
    assert await store.settle(done.id, "completed", refund=False)  # no refund to skip
    assert (await store.usage(1, 5, now=noon)).used == 1
