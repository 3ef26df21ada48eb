"""The one-statement credit SQL agrees with the plain definitions it replaces.

``reserve`` reads a member's numbers in one statement
(:data:`bot.db.credit_queries.MEMBER_NUMBERS`), and on PostgreSQL writes a
reservation and a settlement in one statement each. These tests build a
member's day with every kind of job and adjustment, on both databases, and
check the merged statement against the separate queries (and against numbers
worked out by hand, so that neither side can be trivially zero).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.db import QuotaExceeded, Store, TooManyRunning, queries
from bot.db import credit_queries as cq
from bot.db import operator_queries as oq
from bot.db.errors import RenderLimitExceeded
from bot.db.plan import Plan, all_rows, one, scalar
from tests.db.conftest import NOON, Count, Reserve, on_sqlite_writer

DAY = NOON.date().isoformat()
GUILD = 10


async def numbers(store: Store, user: int, guild: int | None) -> dict[str, int]:
    """The merged statement's numbers, and the same numbers from the separate queries."""
    args = {"user": user, "day": DAY, "guild": guild}

    def plan() -> Plan[dict[str, int]]:
        row = yield one(cq.MEMBER_NUMBERS, args)
        ledger, adjusted, rendered, running, extra = (int(v) for v in row)
        return {
            "used": ledger + adjusted,
            "forgiven": -adjusted,
            "rendered": rendered,
            "running": running,
            "extra": extra,
            "plain_used": (yield scalar(queries.USED_ON_DAY, {"user": user, "day": DAY})),
            "plain_forgiven": (yield scalar(oq.FORGIVEN_ON_DAY, (user, DAY))),
            "plain_rendered": (yield scalar(oq.RENDERED_ON_DAY, (user, DAY))),
            "plain_running": (yield scalar(queries.RUNNING_COUNT, (user,))),
            "plain_extra": (yield scalar(oq.EXTRA_CREDITS, (guild, user))),
        }

    result: dict[str, int] = await store._read(plan)
    return result


def merged_equals_plain(found: dict[str, int]) -> None:
    for name in ("used", "forgiven", "rendered", "running", "extra"):
        assert found[name] == found[f"plain_{name}"], name


async def a_busy_day(store: Store, reserve: Reserve) -> None:
    """Member 1's day: every way a job can end, an admin reset, extra credits."""
    await store.add_extra_credits(GUILD, 1, 5, actor_id=7, now=NOON)
    go = {"daily_limit": 20, "max_running": 20, "now": NOON}
    kept = await reserve(**go)
    await store.settle(kept.id, "completed", now=NOON)
    refunded_unsent = await reserve(cost=2, **go)
    await store.settle(refunded_unsent.id, "failed", now=NOON)  # never sent: not rendered
    refunded_sent = await reserve(cost=3, **go)
    await store.mark_submitting(refunded_sent.id, now=NOON)
    await store.settle(refunded_sent.id, "failed", now=NOON)  # refunded, still rendered
    refused = await reserve(**go)
    await store.mark_submitting(refused.id, now=NOON)
    await store.settle(refused.id, "failed", refused=True, now=NOON)  # never taken
    kept_cancel = await reserve(**go)
    await store.mark_submitting(kept_cancel.id, now=NOON)
    await store.settle(kept_cancel.id, "cancelled", refund=False, now=NOON)
    await store.reset_usage(GUILD, 1, actor_id=7, now=NOON)  # forgives 2: kept + kept_cancel
    running = await reserve(cost=2, **go)
    await store.update_job(running.id, status="running", now=NOON)
    await reserve(cost=4, **go)  # queued
    await reserve(**{**go, "now": NOON - timedelta(days=1)})  # yesterday: not today's
    await reserve(user_id=2, cost=5, **go)  # someone else


async def test_member_numbers_agree_with_the_separate_queries(
    store: Store, reserve: Reserve
) -> None:
    await a_busy_day(store, reserve)

    found = await numbers(store, 1, GUILD)

    merged_equals_plain(found)
    # By hand: kept 1 + kept_cancel 1 (the reset forgave those 2) + running 2 +
    # queued 4; yesterday's job counts on its own day.
    assert found["used"] == 1 + 1 - 2 + 2 + 4
    assert found["forgiven"] == 2
    assert found["rendered"] == 1 + 3 + 1 + 2 + 4  # completed, sent failures, under way
    assert found["running"] == 3  # today's two and yesterday's queued job
    assert found["extra"] == 5


async def test_member_numbers_of_nobody_are_zero_and_without_server_no_extra(
    store: Store, reserve: Reserve
) -> None:
    await a_busy_day(store, reserve)

    nobody = await numbers(store, 99, GUILD)
    no_server = await numbers(store, 1, None)

    merged_equals_plain(nobody)
    merged_equals_plain(no_server)
    assert {k: v for k, v in nobody.items() if not k.startswith("plain")} == {
        "used": 0, "forgiven": 0, "rendered": 0, "running": 0, "extra": 0,
    }  # fmt: skip
    assert no_server["extra"] == 0 and no_server["rendered"] == 11


async def test_reserve_decides_on_the_merged_numbers(
    store: Store, reserve: Reserve, count: Count
) -> None:
    await store.add_extra_credits(GUILD, 1, 3, actor_id=7, now=NOON)
    await reserve(daily_limit=1)
    # The day's allowance is gone; extra credits above the ceiling count as the ceiling.
    paid = await reserve(daily_limit=1, use_extra=True, max_extra=1)
    assert paid.extra_used == 1
    with pytest.raises(QuotaExceeded):
        await reserve(daily_limit=1, use_extra=True, max_extra=1)
    with pytest.raises(TooManyRunning):
        await reserve(daily_limit=9, max_running=2)
    # The render gate: refunded failures after submission still count.
    await store.mark_submitting(paid.id, now=NOON)
    await store.settle(paid.id, "failed", now=NOON)
    with pytest.raises(RenderLimitExceeded):
        await reserve(daily_limit=2, refund_allowance=0, max_running=9)

    assert await count("jobs") == 2 and await count("ledger") == 3
    found = await numbers(store, 1, GUILD)
    merged_equals_plain(found)
    assert found["extra"] == 1  # 3 capped at 1, less the 1 taken, plus the 1 given back


@pytest.mark.parametrize("refund", [True, False])
async def test_settle_writes_the_same_rows_on_both_databases(
    store: Store, reserve: Reserve, count: Count, refund: bool
) -> None:
    await store.add_extra_credits(GUILD, 1, 2, actor_id=7, now=NOON)
    job = await reserve(daily_limit=0, cost=2, use_extra=True)
    await store.mark_submitting(job.id, now=NOON)

    assert await store.settle(job.id, "failed", error="boom", refund=refund, now=NOON)
    assert not await store.settle(job.id, "failed", now=NOON)  # once only

    ended = await store.get_job(job.id)
    assert ended is not None and ended.status == "failed" and ended.error == "boom"
    assert ended.interaction_token is None and ended.submitted_at is not None
    assert await count("ledger", "kind = 'refund'") == (1 if refund else 0)
    found = await numbers(store, 1, GUILD)
    merged_equals_plain(found)
    assert found["extra"] == (2 if refund else 0)
    assert found["rendered"] == 2  # sent: rendered either way


def test_the_active_literals_are_the_active_statuses() -> None:
    # The partial index of migration 7 spells this very list.
    assert queries.ACTIVE_LITERALS == "('queued', 'submitted', 'running')"


async def test_sqlite_reads_unfinished_jobs_through_the_partial_index(
    sqlite_store: Store,
) -> None:
    def plan() -> Plan[Any]:
        rows = yield from explain(queries.RUNNING_COUNT, (1,))
        merged = yield from explain(cq.MEMBER_NUMBERS, {"user": 1, "day": DAY, "guild": 1})
        return rows, merged

    def explain(sql: str, params: Any) -> Plan[list[str]]:
        rows = yield all_rows("EXPLAIN QUERY PLAN " + sql, params)
        return [str(r[3]) for r in rows]

    running, merged = await sqlite_store._read(plan)
    assert any("jobs_user_active" in line for line in running)
    assert any("jobs_user_active" in line for line in merged)
    # The day's sums are one row of member_days, found by its key, read twice.
    assert sum("member_days USING PRIMARY KEY (user_id=? AND day=?)" in s for s in merged) == 2
    assert not any("jobs_user_day_spend" in s or "ledger" in s for s in merged)


async def test_sqlite_settle_writes_submitted_at_only_to_unbill(
    sqlite_store: Store, reserve: Reserve
) -> None:
    # A trigger on UPDATE OF submitted_at (what the e2e spend-attack tests use to
    # refuse the mark-as-sent write) must not see an ordinary settlement.
    store = sqlite_store
    sent = await reserve()
    await store.mark_submitting(sent.id, now=NOON)
    refused = await reserve()
    await store.mark_submitting(refused.id, now=NOON)
    await on_sqlite_writer(
        store,
        lambda conn: conn.execute(
            "CREATE TEMP TRIGGER no_marks BEFORE UPDATE OF submitted_at ON main.jobs"
            " WHEN NEW.submitted_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ),
    )

    assert await store.settle(sent.id, "completed", now=NOON)
    assert await store.settle(refused.id, "failed", refused=True, now=NOON)

    kept, unbilled = await store.get_job(sent.id), await store.get_job(refused.id)
    assert kept is not None and kept.submitted_at is not None
    assert unbilled is not None and unbilled.submitted_at is None
