"""The operator's part of the store: extra credits, resets, settings, audit, budget caps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.db import BudgetExceeded, Job, QuotaExceeded, SpendCap, Store
from bot.db.guild_models import Spend
from bot.db.guilds import CeilingExceeded

Reserve = Callable[..., Awaitable[Job]]
Args = Callable[..., dict[str, Any]]
GUILD = 10
ADMIN = 500


async def test_extra_credits_pay_after_the_daily_allowance_and_come_back_on_refund(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]], noon: datetime
) -> None:
    assert await store.add_extra_credits(GUILD, 1, 2, actor_id=ADMIN, now=noon) == 2

    daily = await reserve(daily_limit=1, use_extra=True)
    first_extra = await reserve(daily_limit=1, use_extra=True)
    second_extra = await reserve(daily_limit=1, use_extra=True)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(daily_limit=1, use_extra=True)

    assert [daily.extra_used, first_extra.extra_used, second_extra.extra_used] == [0, 1, 1]
    assert (refused.value.remaining, refused.value.extra, refused.value.cost) == (0, 0, 1)
    # The daily ledger only carries what the day's allowance paid.
    assert (await store.usage(1, 1, now=noon)).used == 1
    assert await count("ledger", "kind = 'reserve' AND amount = 0") == 2
    assert (await store.member_settings(GUILD, 1)).extra_credits == 0

    assert await store.settle(first_extra.id, "failed", now=noon)
    assert (await store.member_settings(GUILD, 1)).extra_credits == 1
    assert (await store.usage(1, 1, now=noon)).used == 1
    assert await store.settle(daily.id, "failed", now=noon)  # a daily credit comes back too
    assert (await store.usage(1, 1, now=noon)).used == 0
    assert (await store.member_settings(GUILD, 1)).extra_credits == 1
    assert await store.settle(second_extra.id, "completed", now=noon)
    assert (await store.member_settings(GUILD, 1)).extra_credits == 1  # spent for good


async def test_a_job_can_be_split_between_daily_and_extra_credits(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    await store.add_extra_credits(GUILD, 1, 1, actor_id=ADMIN, now=noon)
    await reserve(daily_limit=3, cost=2, use_extra=True)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(daily_limit=3, cost=3, use_extra=True)
    assert (refused.value.remaining, refused.value.cost) == (2, 3)
    job = await reserve(daily_limit=3, cost=2, use_extra=True)
    assert (job.cost, job.extra_used) == (2, 1)
    assert (await store.usage(1, 3, now=noon)).used == 3


async def test_extra_credits_are_ignored_unless_asked_for(store: Store, reserve: Reserve) -> None:
    await store.add_extra_credits(GUILD, 1, 5, actor_id=ADMIN)
    await reserve(daily_limit=1)
    with pytest.raises(QuotaExceeded):
        await reserve(daily_limit=1)
    with pytest.raises(QuotaExceeded):
        await reserve(daily_limit=1, use_extra=True, guild_id=None)  # no server, no extras


async def test_removing_extra_credits_stops_at_zero_and_everything_is_audited(
    store: Store,
) -> None:
    await store.add_extra_credits(GUILD, 1, 3, actor_id=ADMIN)
    assert await store.add_extra_credits(GUILD, 1, -10, actor_id=ADMIN + 1) == 0
    await store.set_member_limit(GUILD, 1, 7, actor_id=ADMIN)
    assert await store.set_blocked(GUILD, 1, True, actor_id=ADMIN, reason="spam")
    assert not await store.set_blocked(GUILD, 1, True, actor_id=ADMIN)
    entries = await store.audit_log(GUILD)
    assert [e.action for e in entries] == [
        "block",
        "block",
        "member limit",
        "extra credits",
        "extra credits",
    ]
    assert entries[-2].actor_id == ADMIN + 1 and entries[-2].target_id == 1
    assert dict(entries[-2].details) == {"delta": -10, "balance": 0}
    assert dict(entries[0].details) == {"changed": False, "reason": None}
    assert await store.audit_log(GUILD + 1) == []


async def test_reset_forgives_the_day_but_keeps_unfinished_jobs_counted(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    done = [await reserve(daily_limit=5) for _ in range(2)]
    for job in done:
        await store.settle(job.id, "completed", now=noon)
    running = await reserve(daily_limit=5)

    assert await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon) == 2
    assert (await store.usage(1, 5, now=noon)).used == 1  # the running job still holds one
    assert await store.settle(running.id, "failed", now=noon)
    assert (await store.usage(1, 5, now=noon)).used == 0  # not -1
    assert await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon) == 0
    tomorrow = noon + timedelta(days=1)
    assert (await store.usage(1, 5, now=tomorrow)).used == 0
    entry = (await store.audit_log(GUILD))[0]
    assert entry.action == "reset usage" and dict(entry.details)["forgiven"] == 0


async def test_policy_snapshot_reads_member_roles_and_channels(store: Store) -> None:
    await store.set_guild_value(GUILD, "daily_limit", 4, actor_id=ADMIN)
    await store.set_role_limit(GUILD, 100, 6, actor_id=ADMIN)
    await store.set_role_limit(GUILD, 101, 9, actor_id=ADMIN)
    await store.set_role_limit(GUILD, 102, 2, actor_id=ADMIN)
    await store.set_role_limit(GUILD, 102, None, actor_id=ADMIN)
    await store.set_blocked(GUILD, 1, True, actor_id=ADMIN, reason="spam")
    assert await store.change_channels(GUILD, "add", 20, actor_id=ADMIN) == (20,)
    assert await store.change_channels(GUILD, "add", 21, actor_id=ADMIN) == (20, 21)
    assert await store.change_channels(GUILD, "add", 21, actor_id=ADMIN) == (20, 21)

    snap = await store.policy_snapshot(GUILD, 1, [100, 102, 555, 100])
    assert snap.guild.daily_limit == 4
    assert dict(snap.role_limits) == {100: 6}
    assert snap.member.blocked and snap.member.block_reason == "spam"
    assert snap.channels == (20, 21)
    assert await store.role_limits(GUILD) == {100: 6, 101: 9}

    await store.set_blocked(GUILD, 1, False, actor_id=ADMIN)
    assert (await store.member_settings(GUILD, 1)).block_reason is None
    assert await store.change_channels(GUILD, "remove", 20, actor_id=ADMIN) == (21,)
    assert await store.change_channels(GUILD, "clear", actor_id=ADMIN) == ()
    other = await store.policy_snapshot(GUILD + 1, 1)
    assert other.guild.daily_limit is None and not other.member.blocked and other.channels == ()
    with pytest.raises(ValueError, match="unknown server setting"):
        await store.set_guild_value(GUILD, "owner_id", 1, actor_id=ADMIN)  # type: ignore[arg-type]


async def test_bot_cap_refuses_the_job_that_would_pass_it_and_writes_nothing(
    store: Store, reserve: Reserve, count: Callable[..., Awaitable[int]], noon: datetime
) -> None:
    cap = SpendCap("bot", credits=3)
    for user in (1, 2, 3):
        await reserve(user_id=user, caps=[cap], guild_id=user)
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(user_id=4, caps=[cap])
    exc = refused.value
    assert (exc.scope, exc.unit, exc.spent, exc.cap, exc.needed, exc.left) == (
        "bot",
        "credits",
        3,
        3,
        1,
        0,
    )
    assert await count("jobs") == 3 and await count("ledger") == 3
    assert (await store.spend(now=noon)).credits == 3


async def test_server_money_cap_counts_only_that_server(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    cap = SpendCap("server", micros=2_000_000)
    await reserve(user_id=1, guild_id=10, price_micros=1_500_000, caps=[cap])
    await reserve(user_id=2, guild_id=11, price_micros=1_500_000, caps=[cap])  # another server
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(user_id=3, guild_id=10, price_micros=600_000, caps=[cap])
    assert (refused.value.unit, refused.value.spent, refused.value.left) == (
        "micros",
        1_500_000,
        500_000,
    )
    await reserve(user_id=3, guild_id=10, price_micros=500_000, caps=[cap])  # exactly fits
    assert (await store.spend(10, now=noon)).micros == 2_000_000


async def test_a_refund_lowers_the_days_spend(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    cap = SpendCap("bot", credits=2, micros=None)
    first = await reserve(user_id=1, cost=2, price_micros=300, caps=[cap])
    with pytest.raises(BudgetExceeded):
        await reserve(user_id=2, caps=[cap])
    assert await store.settle(first.id, "failed", now=noon)
    assert await store.spend(now=noon) == Spend(0, 0)
    await reserve(user_id=2, cost=2, caps=[cap])
    assert (await store.spend(now=noon)).credits == 2


async def test_many_concurrent_reservations_never_overshoot_a_cap(
    store: Store, db_location: str, reserve_args: Args, count: Callable[..., Awaitable[int]]
) -> None:
    caps = [SpendCap("server", credits=7), SpendCap("bot", micros=100_000_000)]
    async with Store.open(db_location) as other:
        calls = [
            (store if i % 2 else other).reserve(
                **reserve_args(user_id=i, cost=2, price_micros=1, caps=caps)
            )
            for i in range(60)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
    jobs = [r for r in results if isinstance(r, Job)]
    assert len(jobs) == 3  # 3 x 2 = 6 <= 7; a fourth would make 8
    assert {type(r) for r in results if not isinstance(r, Job)} == {BudgetExceeded}
    assert await count("jobs") == 3
    assert (await store.spend(10, now=reserve_args()["now"])).credits == 6


async def test_reset_acts_only_on_the_jobs_made_in_its_own_server(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    other = GUILD + 1
    for guild in (GUILD, GUILD, other):
        job = await reserve(guild_id=guild, daily_limit=9)
        assert await store.settle(job.id, "completed", now=noon)
    refunded = await reserve(guild_id=other, daily_limit=9)
    assert await store.settle(refunded.id, "failed", now=noon)  # already given back
    running = await reserve(guild_id=other, daily_limit=9)
    assert (await store.usage(1, 9, now=noon)).used == 4

    assert await store.reset_usage(other, 1, actor_id=ADMIN, now=noon) == 1
    assert (await store.usage(1, 9, now=noon)).used == 3
    # Nothing more there: the other server's two credits are not this server's to give.
    assert await store.reset_usage(other, 1, actor_id=ADMIN, now=noon) == 0
    assert await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon) == 2
    assert await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon) == 0
    assert (await store.usage(1, 9, now=noon)).used == 1  # the running job's credit
    assert await store.settle(running.id, "failed", now=noon)
    assert (await store.usage(1, 9, now=noon)).used == 0  # not below
    forgiven = [dict(e.details)["forgiven"] for e in await store.audit_log(other)]
    assert forgiven == [0, 1]  # newest first


async def test_reset_never_takes_usage_below_what_unfinished_jobs_hold(
    store: Store, reserve: Reserve, execute: Callable[..., Awaitable[None]], noon: datetime
) -> None:
    done = await reserve(daily_limit=9)
    assert await store.settle(done.id, "completed", now=noon)
    await reserve(guild_id=GUILD + 1, daily_limit=9)  # running elsewhere, holds 1
    # An adjustment written elsewhere that already forgave more than that server used
    # (as resets could before they were scoped to their server).
    await execute(
        "INSERT INTO usage_adjustments (user_id, day, amount, guild_id, actor_id, created_at) "
        "VALUES (1, ?, -1, ?, ?, 0)",
        noon.date().isoformat(),
        GUILD + 2,
        ADMIN,
    )
    assert (await store.usage(1, 9, now=noon)).used == 1

    assert await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon) == 0
    assert (await store.usage(1, 9, now=noon)).used == 1


async def test_extra_credits_above_max_balance_are_refused_and_nothing_is_written(
    store: Store, count: Callable[..., Awaitable[int]]
) -> None:
    assert await store.add_extra_credits(GUILD, 1, 3, actor_id=ADMIN, max_balance=5) == 3
    with pytest.raises(CeilingExceeded) as refused:
        await store.add_extra_credits(GUILD, 1, 3, actor_id=ADMIN, max_balance=5)
    assert (refused.value.balance, refused.value.ceiling) == (3, 5)
    assert await count("audit_log") == 1
    assert (await store.member_settings(GUILD, 1)).extra_credits == 3
    with pytest.raises(CeilingExceeded):  # a member with no row yet, ceiling 0
        await store.add_extra_credits(GUILD, 2, 1, actor_id=ADMIN, max_balance=0)
    assert await store.add_extra_credits(GUILD, 1, -1, actor_id=ADMIN, max_balance=0) == 2


async def test_reserve_counts_extra_credits_above_max_extra_as_max_extra(
    store: Store, reserve: Reserve, noon: datetime
) -> None:
    await store.add_extra_credits(GUILD, 1, 5, actor_id=ADMIN, now=noon)
    first = await reserve(daily_limit=0, use_extra=True, max_extra=2)
    # The balance stored above the ceiling drops to it on first use: 2 - 1.
    assert (await store.member_settings(GUILD, 1)).extra_credits == 1
    await reserve(daily_limit=0, use_extra=True, max_extra=2)
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(daily_limit=0, use_extra=True, max_extra=2)
    assert refused.value.extra == 0
    assert await store.settle(first.id, "failed", now=noon)  # its extra credit comes back
    assert (await store.member_settings(GUILD, 1)).extra_credits == 1
