"""Credit operations in batches (PostgreSQL): each call decided as if it ran alone, in order.

On PostgreSQL a process sends the reservations (and settlements) that pile up
while its previous batch is at the server as one transaction (one statement).
A batch must decide exactly what the same calls made one after the other
decide: the reference here is the same calls, one at a time, on SQLite.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.db import Job, Store, StoreError
from bot.db.guild_models import SpendCap
from tests.db.conftest import NOON
from tests.db.test_member_days import counters_and_sums
from tests.support.postgres import fresh_database

Args = Callable[..., dict[str, Any]]

GUILDS = (10, 11)
USERS = (1, 2, 3, 4)
CAPS = (
    SpendCap("bot", credits=14),
    SpendCap("server", credits=8, micros=700_000),
)


def random_calls(seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` reserve() calls mixing members, servers, days, costs, extra credits and caps."""
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        calls.append(
            {
                "user_id": rng.choice(USERS),
                "guild_id": rng.choice((*GUILDS, None)),
                "channel_id": 5,
                "prompt": "a cat surfing",
                "options": {"duration": 4},
                "image_url": None,
                "protocol": "videos",
                "cost": rng.choice((1, 1, 2, 3)),
                "daily_limit": 4,
                "max_running": rng.choice((3, 5)),
                # Across midnight: the day's numbers are the next day's.
                "now": NOON + timedelta(hours=rng.choice((0, 0, 13))),
                "price_micros": rng.choice((0, 100_000, 250_000)),
                "use_extra": rng.random() < 0.7,
                "max_extra": rng.choice((None, 2)),
                "caps": CAPS if rng.random() < 0.7 else (),
                "refund_allowance": rng.choice((0, 2)),
            }
        )
    return calls


async def a_day_so_far(store: Store) -> None:
    """The same history on every store: extra credits, a refund sent, one kept, a reset."""
    for guild, user, credits in ((10, 1, 3), (11, 1, 2), (10, 2, 5), (11, 3, 4), (10, 4, 2)):
        await store.add_extra_credits(guild, user, credits, actor_id=7, now=NOON)
    base = {"channel_id": 5, "prompt": "p", "options": {}, "image_url": None}
    base |= {"protocol": "videos", "daily_limit": 4, "max_running": 5, "now": NOON}
    sent = await store.reserve(user_id=3, guild_id=10, cost=2, **base)
    await store.mark_submitting(sent.id, now=NOON)
    await store.settle(sent.id, "failed", now=NOON)  # refunded, still rendered
    kept = await store.reserve(user_id=4, guild_id=11, cost=1, price_micros=300_000, **base)
    await store.settle(kept.id, "completed", now=NOON)
    await store.reset_usage(11, 4, actor_id=7, now=NOON)


def outcome(result: Job | BaseException) -> tuple[Any, ...]:
    if isinstance(result, BaseException):
        return (type(result).__name__, str(result))
    return ("job", result.user_id, result.guild_id, result.day, result.cost, result.extra_used)


async def final_numbers(store: Store) -> dict[str, Any]:
    numbers: dict[str, Any] = {}
    for now in (NOON, NOON + timedelta(hours=13)):
        for user in USERS:
            numbers[f"used {user} {now:%d}"] = (await store.usage(user, 4, now=now)).used
        numbers[f"spend {now:%d}"] = await store.spend(now=now)
        for guild in GUILDS:
            numbers[f"spend {guild} {now:%d}"] = await store.spend(guild, now=now)
    for guild in GUILDS:
        for user in USERS:
            settings = await store.member_settings(guild, user)
            numbers[f"extra {guild} {user}"] = settings.extra_credits
    for user in USERS:
        numbers[f"running {user}"] = await store.running_count(user)
    return numbers


@pytest.mark.parametrize("seed", [1, 3, 5])
async def test_a_batch_decides_every_call_as_the_same_calls_one_at_a_time(
    postgres_server: str, tmp_path: Path, seed: int
) -> None:
    calls = random_calls(seed, 60)  # seeds whose calls meet every refusal
    async with (
        fresh_database(postgres_server) as url,
        Store.open(url) as batched,
        Store.open(tmp_path / "reference.sqlite3") as reference,
    ):
        for store in (batched, reference):
            await a_day_so_far(store)
        expected = []
        for call in calls:
            try:
                expected.append(outcome(await reference.reserve(**call)))
            except Exception as exc:
                expected.append(outcome(exc))

        # All at once: they go to the server as one batch.
        results = await asyncio.gather(
            *(batched.reserve(**call) for call in calls), return_exceptions=True
        )

        assert [outcome(r) for r in results] == expected
        kinds = {o[0] for o in expected}
        assert kinds == {
            "job",
            "QuotaExceeded",
            "RenderLimitExceeded",
            "BudgetExceeded",
            "TooManyRunning",
        }
        assert any(o[0] == "job" and o[-1] > 0 for o in expected)  # extra credits paid
        assert batched._reservations.requests == len(calls) + 2
        assert batched._reservations.batches == 3  # the two of the history, then one
        assert await final_numbers(batched) == await final_numbers(reference)
        for store in (batched, reference):  # each day's total kept equals its ledger
            kept, summed = await counters_and_sums(store)
            assert kept == summed and len(kept) >= 6


async def test_extra_credits_and_their_ceiling_count_inside_one_batch(
    postgres_server: str, reserve_args: Args
) -> None:
    async with fresh_database(postgres_server) as url, Store.open(url) as store:
        await store.add_extra_credits(10, 1, 5, actor_id=7, now=NOON)
        call = reserve_args(daily_limit=2, max_running=50, use_extra=True, max_extra=3)

        results = await asyncio.gather(
            *(store.reserve(**call) for _ in range(10)), return_exceptions=True
        )

        jobs = [r for r in results if isinstance(r, Job)]
        # 2 from the day's allowance, then the balance counts as the ceiling, 3.
        assert [j.extra_used for j in jobs] == [0, 0, 1, 1, 1]
        assert (await store.member_settings(10, 1)).extra_credits == 0
        assert store._reservations.batches == 1


async def test_one_settlement_per_job_in_a_batch_and_extra_credits_summed_back(
    postgres_server: str, reserve_args: Args
) -> None:
    async with fresh_database(postgres_server) as url, Store.open(url) as store:
        await store.add_extra_credits(10, 1, 3, actor_id=7, now=NOON)
        call = reserve_args(cost=2, daily_limit=1, max_running=50, use_extra=True)
        first = await store.reserve(**call)  # 1 from the allowance, 1 extra
        second = await store.reserve(**{**call, "cost": 1})  # all extra
        third = await store.reserve(**{**call, "cost": 1})  # all extra
        assert (await store.member_settings(10, 1)).extra_credits == 0
        before = store._settlements.batches

        ended = await asyncio.gather(
            store.settle(third.id, "completed", now=NOON),
            store.settle(first.id, "failed", now=NOON),
            store.settle(first.id, "completed", now=NOON),  # the same job again
            store.settle(second.id, "cancelled", now=NOON),
        )

        assert ended == [True, True, False, True]
        assert store._settlements.batches - before == 1
        assert (await store.get_job(first.id)).status == "failed"  # type: ignore[union-attr]
        # Both refunds gave their extra credits back, summed in one update.
        assert (await store.member_settings(10, 1)).extra_credits == 2
        assert (await store.usage(1, 1, now=NOON)).used == 0


async def test_a_call_the_server_rejects_fails_alone_and_the_rest_of_its_batch_goes_on(
    postgres_server: str, reserve_args: Args
) -> None:
    async with fresh_database(postgres_server) as url, Store.open(url) as store:
        call = reserve_args(daily_limit=10, max_running=50)
        prompts = ["first", "second", "a NUL \x00 PostgreSQL text cannot hold", "fourth"]

        results = await asyncio.gather(
            *(store.reserve(**{**call, "prompt": p}) for p in prompts), return_exceptions=True
        )

        assert [type(r) for r in results] == [Job, Job, StoreError, Job]
        assert [r.prompt for r in results if isinstance(r, Job)] == ["first", "second", "fourth"]
        assert (await store.usage(1, 10, now=NOON)).used == 3
        # The four together, rejected, then each alone.
        assert store._reservations.batches == 5
