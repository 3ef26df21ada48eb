"""member_days (migration 8): each member's day summed, kept beside the ledger and jobs.

A reservation reads the member's credits used today (their ledger's sum) and
rendered today (the cost of their jobs in SPENT) from one row of member_days
instead of summing the day's rows; the row must always equal those sums.
Checked on both databases: after the migration fills it from existing rows,
and after every way the store writes the ledger or ends a job.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.db import QuotaExceeded, Store
from bot.db import operator_queries as oq
from bot.db.migrate import apply_migrations, load_migrations
from bot.db.pg_migrate import apply_pg_migrations, postgres_migrations
from bot.db.plan import Plan, all_rows
from tests.db.conftest import NOON

Args = Callable[..., dict[str, Any]]

Day = tuple[int, str]
COUNTERS = "SELECT user_id, day, used, rendered FROM member_days"
USED = "SELECT user_id, day, SUM(amount) FROM ledger GROUP BY user_id, day"
RENDERED = f"SELECT user_id, day, SUM(cost) FROM jobs WHERE {oq.SPENT} GROUP BY user_id, day"


async def counters_and_sums(
    store: Store,
) -> tuple[dict[Day, tuple[int, int]], dict[Day, tuple[int, int]]]:
    """member_days (used, rendered), and the sums it must equal, read in one snapshot."""

    def plan() -> Plan[tuple[dict[Day, tuple[int, int]], dict[Day, tuple[int, int]]]]:
        kept = yield all_rows(COUNTERS)
        used = {(int(u), d): int(n) for u, d, n in (yield all_rows(USED))}
        rendered = {(int(u), d): int(n) for u, d, n in (yield all_rows(RENDERED))}
        days = used.keys() | rendered.keys()
        return (
            {(int(u), d): (int(n), int(r)) for u, d, n, r in kept},
            {day: (used.get(day, 0), rendered.get(day, 0)) for day in days},
        )

    result: tuple[dict[Day, tuple[int, int]], dict[Day, tuple[int, int]]] = await store._snapshot(
        plan
    )
    return result


# Two members over two days, as an older version left them: reservations,
# refunds, an extra-credit job whose ledger row holds only the allowance's part.
OLD_LEDGER = [
    # (job, user, day, amount, kind)
    (1, 1, "2025-03-09", 2, "reserve"),
    (2, 1, "2025-03-10", 1, "reserve"),
    (2, 1, "2025-03-10", -1, "refund"),
    (3, 1, "2025-03-10", 3, "reserve"),
    (4, 2, "2025-03-10", 0, "reserve"),
]


async def write_old_database(backend: str, location: str) -> None:
    """A database at schema 7 holding OLD_LEDGER (and its jobs)."""
    # Each job costs what it reserved; job 4's one credit was an extra credit.
    jobs = [(job, user, day, max(amount, 1), int(amount == 0))
            for job, user, day, amount, kind in OLD_LEDGER if kind == "reserve"]  # fmt: skip
    job_sql = (
        "INSERT INTO jobs (id, user_id, channel_id, prompt, protocol, day, cost, extra_used,"
        " created_at, updated_at) VALUES ({}, {}, 5, 'p', 'videos', '{}', {}, {}, 0, 0)"
    )
    ledger_sql = (
        "INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)"
        " VALUES ({}, {}, '{}', {}, '{}', 0)"
    )
    statements = [job_sql.format(*job) for job in jobs]
    statements += [ledger_sql.format(*row) for row in OLD_LEDGER]
    if backend == "sqlite":
        with closing(sqlite3.connect(location, isolation_level=None)) as conn:
            assert apply_migrations(conn, load_migrations()[:7]) == 7
            for sql in statements:
                conn.execute(sql)
        return
    conn = await asyncpg.connect(location)
    try:
        assert await apply_pg_migrations(conn, postgres_migrations()[:7]) == 7
        for sql in statements:
            await conn.execute(sql)
        await conn.execute("SELECT setval(pg_get_serial_sequence('jobs', 'id'), 10)")
    finally:
        await conn.close()


async def test_migration_8_totals_the_existing_ledger(
    backend: str, db_location: str, reserve_args: Args
) -> None:
    if backend == "sqlite":
        Path(db_location).parent.mkdir()
    await write_old_database(backend, db_location)

    async with Store.open(db_location) as store:
        kept, summed = await counters_and_sums(store)
        # (used, rendered): the refunded job was never sent, so it renders nothing.
        assert kept == summed == {
            (1, "2025-03-09"): (2, 2), (1, "2025-03-10"): (3, 4), (2, "2025-03-10"): (0, 1),
        }  # fmt: skip
        # Member 1 used 3 of 3 on the 10th: refused; the 9th's 2 do not count.
        with pytest.raises(QuotaExceeded) as refused:
            await store.reserve(**reserve_args(daily_limit=3, now=NOON))
        assert refused.value.used == 3
        await store.reserve(**reserve_args(daily_limit=4, now=NOON))
        assert await counters_and_sums(store) == ({**kept, (1, "2025-03-10"): (4, 5)},) * 2


async def test_every_ledger_write_keeps_its_member_day_total(
    store: Store, reserve_args: Args
) -> None:
    await store.add_extra_credits(10, 1, 2, actor_id=7, now=NOON)
    go = reserve_args(daily_limit=2, max_running=20, use_extra=True)
    jobs = [await store.reserve(**go) for _ in range(4)]  # 2 from the allowance, 2 extra
    other = await store.reserve(**reserve_args(user_id=2, cost=3, daily_limit=5))

    await asyncio.gather(
        store.settle(jobs[0].id, "completed"),
        store.settle(jobs[1].id, "failed"),  # refunded
        store.settle(jobs[1].id, "failed"),  # again: nothing more
        store.settle(jobs[2].id, "cancelled"),  # refunded, an extra credit back
        store.settle(jobs[3].id, "cancelled", refund=False),
        store.settle(other.id, "failed", refused=True),
    )

    kept, summed = await counters_and_sums(store)
    # Member 1 used the credit of job 0 (completed, the one job rendered) and
    # kept job 3's extra credit (cancelled without refund, never sent: it
    # renders nothing). Member 2's refused submission was unbilled and refunded.
    assert kept == summed == {(1, "2025-03-10"): (1, 1), (2, "2025-03-10"): (0, 0)}
    assert (await store.usage(1, 2, now=NOON)).used == 1
