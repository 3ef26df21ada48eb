"""SQLite: credit reservations and settlements per second, with proof nobody overspent.

``writers`` concurrent writers share a few members (so they compete for the same
quota) and, for a fixed time, each reserves a credit and settles the job: half
completed (the credit kept), half failed (refunded). Run twice: all writers on
one connection (the bot: one :class:`~bot.db.Store` per process) and each writer
on its own connection (several processes on one file, serialised by
``BEGIN IMMEDIATE``). Afterwards an independent ``sqlite3`` reading of the file
checks each member's kept credits against the daily limit and the ledger.

Durability is the bot's own: WAL with ``synchronous=NORMAL`` (a commit survives
the process crashing, not a power cut; no fsync per commit), which is what
:mod:`bench.pg_bench`'s throwaway server (``fsync`` and ``synchronous_commit``
off) is compared against.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.db import QuotaExceeded, Store, StoreError, TooManyRunning


@contextlib.asynccontextmanager
async def stores(path: Path, count: int) -> AsyncIterator[list[Store]]:
    """``count`` open stores on ``path``."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Store.open(path)) for _ in range(count)]


async def credit_run(
    writers: int, users: int, limit: int, seconds: float, *, shared: bool
) -> dict[str, Any]:
    """One timed run; returns throughput and the overspend check."""
    with tempfile.TemporaryDirectory(prefix="sora-bench-db-") as tmp:
        path = Path(tmp) / "credits.sqlite3"
        counts = {"reserved": 0, "settled": 0, "refused": 0, "busy": 0}
        async with stores(path, 1 if shared else writers) as opened:
            deadline = time.monotonic() + seconds

            async def writer(index: int) -> None:
                store = opened[0 if shared else index]
                await writer_loop(store, index, users, limit, writers, deadline, counts)

            started = time.monotonic()
            await asyncio.gather(*(writer(i) for i in range(writers)))
            elapsed = time.monotonic() - started
        proof = overspend_check(path, limit)
    operations = counts["reserved"] + counts["settled"]
    return {
        "connections": 1 if shared else writers,
        "writers": writers,
        "seconds": elapsed,
        **counts,
        "credit_operations_per_second": operations / elapsed,
        **proof,
    }


async def writer_loop(
    store: Store,
    index: int,
    users: int,
    limit: int,
    max_running: int,
    deadline: float,
    counts: dict[str, int],
) -> None:
    """One writer until ``deadline``: reserve a credit, settle it (half kept, half refunded)."""
    user = 1 + index % users
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            job = await store.reserve(
                user_id=user, guild_id=1, channel_id=1, prompt="p", options={},
                image_url=None, protocol="videos", cost=1, daily_limit=limit,
                max_running=max_running,
            )  # fmt: skip
        except (QuotaExceeded, TooManyRunning):
            counts["refused"] += 1
            await asyncio.sleep(0)  # let the others in; a refusal is cheap
            continue
        except StoreError:
            counts["busy"] += 1
            continue
        counts["reserved"] += 1
        outcome = "completed" if n % 2 else "failed"
        if await store.settle(job.id, outcome):  # type: ignore[arg-type]
            counts["settled"] += 1


def check_rows(
    kept: list[Any], ledger: list[Any], days: list[Any], open_jobs: int, limit: int
) -> dict[str, Any]:
    """Kept credits per member and day never exceed ``limit``; ledger and day sums agree."""
    kept_by = {(u, d): int(s) for u, d, s in kept}
    ledger_by = {(u, d): int(s) for u, d, s in ledger}
    days_by = {(u, d): int(s) for u, d, s in days}
    most = max(kept_by.values(), default=0)
    keys = set(kept_by) | set(ledger_by)
    return {
        "max_kept_credits_per_member": most,
        "daily_limit": limit,
        "overspent": most > limit,
        "ledger_matches_jobs": all(kept_by.get(k, 0) == ledger_by.get(k, 0) for k in keys)
        and days_by == ledger_by,  # member_days: each member's day summed
        "unsettled_jobs": open_jobs,
    }


KEPT_SQL = (
    "SELECT user_id, day, SUM(cost) FROM jobs WHERE status = 'completed' GROUP BY user_id, day"
)
LEDGER_SQL = "SELECT user_id, day, SUM(amount) FROM ledger GROUP BY user_id, day"
DAYS_SQL = "SELECT user_id, day, used FROM member_days"
OPEN_SQL = "SELECT COUNT(*) FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled')"


def overspend_check(path: Path, limit: int) -> dict[str, Any]:
    """Read the file directly: kept credits per member and day never exceed ``limit``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        kept = conn.execute(KEPT_SQL).fetchall()
        ledger = conn.execute(LEDGER_SQL).fetchall()
        days = conn.execute(DAYS_SQL).fetchall()
        open_jobs = conn.execute(OPEN_SQL).fetchone()[0]
    return check_rows(kept, ledger, days, open_jobs, limit)
