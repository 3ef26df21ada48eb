"""PostgreSQL: credit reservations and settlements per second from several processes.

The same writers as :mod:`bench.sqlite_bench` (``writers`` in all, sharing a
few members so they compete for the same quota, each reserving a credit and
settling it, half kept and half refunded), spread over ``processes`` separate
Python processes, each with its own :class:`~bot.db.Store` and connection
pool on one database: the setup of several bot processes sharing PostgreSQL.
Afterwards the database is read directly to check that no member kept more
than the daily limit and that the ledger agrees with the jobs.

The server is ``BENCH_DATABASE_URL`` when set, else a throwaway cluster on
127.0.0.1 (:mod:`tests.support.postgres`; durability off, as in the tests:
the numbers measure the store's locking and round trips, not the disk; the
SQLite side runs as the bot does, WAL with ``synchronous=NORMAL``, which does
not fsync a commit either). On one machine the bot processes and the server
share its cores: each round trip costs CPU on both sides.

Beside it, in the same processes right after the writers, a reference: the
same writers on a pool of the same size doing nothing but ``SELECT 1``, one
round trip per pooled acquire (the cheapest operation a store could make if
each operation went to the server on its own). Its rate is this machine's
ceiling for one-round-trip operations; the credit rate is reported as a ratio
of it (the store batches each process's concurrent operations, see
:mod:`bot.db.batcher`, so it may come close to it or pass it).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bench.sqlite_bench import DAYS_SQL, KEPT_SQL, LEDGER_SQL, OPEN_SQL, check_rows, writer_loop
from bot.db import Store
from tests.support import postgres

# Every process starts its writers at the same wall-clock moment, this long
# after the parent asks (spawning a process and importing the bot takes a while).
START_DELAY = 3.0


@asynccontextmanager
async def server() -> AsyncIterator[str]:
    """The URL of a PostgreSQL server: BENCH_DATABASE_URL or a throwaway cluster."""
    given = os.environ.get("BENCH_DATABASE_URL", "").strip()
    if given:
        yield given
        return
    cluster = await asyncio.to_thread(postgres.start)
    try:
        yield cluster.url
    finally:
        await asyncio.to_thread(cluster.stop)


def _process(
    url: str, indexes: list[int], users: int, limit: int, writers: int, start: float, seconds: float
) -> dict[str, Any]:
    """One process's writers (run in a child process); its counts and elapsed time."""

    async def run() -> dict[str, Any]:
        counts = {"reserved": 0, "settled": 0, "refused": 0, "busy": 0}
        async with Store.open(url, pool_size=min(len(indexes), 10)) as store:
            await asyncio.sleep(max(start - time.time(), 0))  # the common start line
            began = time.monotonic()
            deadline = began + seconds
            await asyncio.gather(
                *(writer_loop(store, i, users, limit, writers, deadline, counts) for i in indexes)
            )
            elapsed = time.monotonic() - began
        trips, trip_seconds = await _round_trips(url, len(indexes), seconds)
        return {
            **counts,
            "elapsed": elapsed,
            "round_trips": trips,
            "round_trip_seconds": trip_seconds,
        }

    return asyncio.run(run())


async def _round_trips(url: str, writers: int, seconds: float) -> tuple[int, float]:
    """The reference: ``writers`` loops of ``SELECT 1`` on a pool sized like the store's."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=min(writers, 10))
    count = 0

    async def loop(deadline: float) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            count += 1

    try:
        began = time.monotonic()
        await asyncio.gather(*(loop(began + seconds) for _ in range(writers)))
        return count, time.monotonic() - began
    finally:
        await pool.close()


async def credit_run(
    writers: int, users: int, limit: int, seconds: float, *, processes: int = 4
) -> dict[str, Any]:
    """One timed run over ``processes`` processes; throughput and the overspend check."""
    async with server() as url, postgres.fresh_database(url) as db:
        async with Store.open(db):
            pass  # migrated once here, so the processes time only their writers
        spread = [list(range(p, writers, processes)) for p in range(processes)]
        start = time.time() + START_DELAY
        loop = asyncio.get_running_loop()
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=spawn) as pool:
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool, _process, db, idx, users, limit, writers, start, seconds
                    )
                    for idx in spread
                )
            )
        conn = await asyncpg.connect(db)
        try:
            kept = await conn.fetch(KEPT_SQL)
            ledger = await conn.fetch(LEDGER_SQL)
            days = await conn.fetch(DAYS_SQL)
            open_jobs = int(await conn.fetchval(OPEN_SQL))
        finally:
            await conn.close()
    counts = {k: sum(int(p[k]) for p in parts) for k in ("reserved", "settled", "refused", "busy")}
    elapsed = max(float(p["elapsed"]) for p in parts)
    trips = sum(int(p["round_trips"]) for p in parts)
    trip_rate = trips / max(float(p["round_trip_seconds"]) for p in parts)
    ops_rate = (counts["reserved"] + counts["settled"]) / elapsed
    return {
        "processes": processes,
        "writers": writers,
        "seconds": elapsed,
        **counts,
        "credit_operations_per_second": ops_rate,
        "reference_round_trips_per_second": trip_rate,
        "ops_over_round_trip_ceiling": round(ops_rate / trip_rate, 3) if trip_rate else None,
        **check_rows(kept, ledger, days, open_jobs, limit),
    }
