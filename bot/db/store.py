"""The one place the bot talks to its database: jobs and the per-member credit ledger.

The database is a SQLite file or, with a ``postgresql://`` URL, a PostgreSQL
server shared by several processes; the same plans run on both (see
:mod:`bot.db.base` and :mod:`bot.db.dialect`).

Every video costs the operator money, so quota changes are exact: a credit is
reserved together with the job in one transaction (``BEGIN IMMEDIATE`` on
SQLite; on PostgreSQL one holding the member's and the caps' advisory locks),
and refunded at most once, in the same transaction that ends the job.

Two kinds of money are kept apart. The member's credits may be refunded when a
video fails or is cancelled. The operator's spend may not: from the moment a
job's submission is sent to the provider (:meth:`Store.mark_submitting`) the
provider bills it, so the budget caps, stats and metrics count it however it
ends (see ``BILLED`` and ``SPENT`` in :mod:`bot.db.operator_queries`).

The backends are in :mod:`bot.db.sqlite_backend` and :mod:`bot.db.pg_backend`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Self

from bot.db import credit_queries as cq
from bot.db import operator_queries as oq
from bot.db import queries
from bot.db.base import Backend
from bot.db.billing import DEFAULT_REFUND_ALLOWANCE, BillingStore
from bot.db.connection import DEFAULT_BUSY_TIMEOUT
from bot.db.dialect import cap_lock, is_database_url, member_lock
from bot.db.errors import QuotaExceeded, TooManyRunning
from bot.db.guild_models import SpendCap
from bot.db.guilds import GuildStore
from bot.db.leases import LeaseStore
from bot.db.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ActiveStatus,
    FinalStatus,
    Job,
    dump_options,
    next_reset,
    quota_day,
    utc,
)
from bot.db.pg_backend import DEFAULT_POOL_SIZE, PostgresBackend
from bot.db.plan import Plan, Row, as_int, lock, one, run, scalar
from bot.db.reads import JobReads
from bot.db.reports import ReportStore
from bot.db.series import SeriesStore
from bot.db.sqlite_backend import SqliteBackend

log = logging.getLogger(__name__)


class Store(BillingStore, GuildStore, ReportStore, JobReads, SeriesStore, LeaseStore):
    """Jobs and credits in SQLite or PostgreSQL. Create it with ``async with Store.open(...)``.

    The server and member settings, audit log, stats and metrics live in the
    :class:`~bot.db.guilds.GuildStore` and :class:`~bot.db.reports.ReportStore`
    parts; the connection plumbing in :class:`~bot.db.base.StoreBase`.
    """

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> AsyncIterator[Self]:
        """Open (creating if needed) the database at ``path``, migrate it, close it on exit.

        ``path`` is a SQLite file (its parent directory is created and the file
        made owner-only, 0600, see :func:`~bot.db.connection.prepare_file`) or
        a ``postgresql://user:pass@host:port/dbname`` URL, served by a pool of
        ``pool_size`` connections. ``busy_timeout`` is how many seconds to wait
        for another connection's lock before :class:`~bot.db.errors.StoreBusy`.
        """
        location = os.fspath(path)
        backend: Backend
        if is_database_url(location):
            backend = await PostgresBackend.open(location, busy_timeout, pool_size)
        else:
            backend = await SqliteBackend.open(location, busy_timeout)
        try:
            yield cls(backend)
        finally:
            await backend.close()

    # ------------------------------------------------------------ quota

    async def reserve(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        prompt: str,
        options: Mapping[str, Any],
        image_url: str | None,
        protocol: str,
        cost: int,
        daily_limit: int,
        max_running: int,
        interaction_token: str | None = None,
        application_id: int | None = None,
        now: datetime | None = None,
        price_micros: int = 0,
        use_extra: bool = False,
        max_extra: int | None = None,
        caps: Sequence[SpendCap] = (),
        refund_allowance: int = DEFAULT_REFUND_ALLOWANCE,
    ) -> Job:
        """Create a queued job and reserve its ``cost`` in credits, or refuse and write nothing.

        Raises :class:`~bot.db.errors.QuotaExceeded` if today's credits plus
        ``cost`` would pass ``daily_limit``, and
        :class:`~bot.db.errors.TooManyRunning` if the member already has
        ``max_running`` unfinished jobs. The checks and both inserts are one
        transaction, so concurrent requests cannot overspend.

        The operator's options: ``price_micros`` is the job's estimated price;
        ``use_extra`` lets the member's extra credits in ``guild_id`` pay what
        the day's allowance cannot (given back on a refund), counting a balance
        above ``max_extra`` as ``max_extra``; each of ``caps``
        raises :class:`~bot.db.errors.BudgetExceeded` when the day's jobs that
        count (still under way, or ever sent to the provider) plus this one
        would pass it. All are checked in the same transaction as the reservation.

        The render gate: refunds must not let a member make the provider render
        without end. :class:`~bot.db.errors.RenderLimitExceeded` (a
        ``QuotaExceeded``) refuses the job when the credits of the member's
        jobs of the day that were sent to the provider or are still under way
        (refunded or not), plus ``cost``, would pass ``daily_limit`` plus their
        extra credits, what an admin reset forgave today, and ``refund_allowance``.
        """
        if min(cost, daily_limit, max_running, price_micros, refund_allowance) < 0:
            raise ValueError(
                "cost, daily_limit, max_running, price and refund allowance must not be negative"
            )
        if not protocol:
            raise ValueError("protocol must not be empty")
        at = utc(now)
        ts, day = at.timestamp(), quota_day(at)
        options_json = dump_options(options)
        # Only the caps that apply, each locked once, in one global order (no deadlocks).
        applicable = [c for c in caps if c.scope != "server" or guild_id is not None]
        locks = sorted({cap_lock(c.scope, guild_id) for c in applicable})

        # Extra credits are read only where they may pay (no row matches None).
        member = {"user": user_id, "day": day, "guild": guild_id if use_extra else None}
        values = (
            user_id,
            guild_id,
            channel_id,
            interaction_token,
            application_id,
            prompt,
            options_json,
            image_url,
            protocol,
            cost,
            day,
            ts,
            ts,
            price_micros,
        )
        one_statement = self._backend.cte_writes

        def plan() -> Plan[tuple[Row, int]]:
            yield lock(member_lock(user_id))
            for key in locks:
                yield lock(key)
            numbers = yield one(cq.MEMBER_NUMBERS, member)
            ledger, adjusted, rendered, running, balance = (as_int(v) for v in numbers)
            used = ledger + adjusted
            extra = 0
            if use_extra and guild_id is not None:
                extra = balance if max_extra is None else min(balance, max_extra)
            from_extra = _from_extra(used, cost, daily_limit, extra)
            if from_extra is None:
                raise QuotaExceeded(used, daily_limit, next_reset(at), cost=cost, extra=extra)
            forgiven = max(-adjusted, 0)
            self._check_renders(rendered, forgiven, cost, daily_limit, extra, refund_allowance, at)
            if running >= max_running:
                raise TooManyRunning(running, max_running)
            for cap in applicable:
                yield from self._check_cap(cap, day, guild_id, cost, price_micros, at)
            # The daily ledger carries only what the day's allowance paid.
            if one_statement:
                row = yield one(cq.RESERVE_JOB_PG, (*values, from_extra))
            else:
                row = yield one(queries.INSERT_JOB, (*values, from_extra))
                reserved = (row["id"], user_id, day, cost - from_extra, ts)
                yield run(cq.INSERT_RESERVE, reserved)
            if from_extra:
                yield run(
                    oq.TAKE_EXTRA,
                    {
                        "ceiling": oq.NO_CEILING if max_extra is None else max_extra,
                        "take": from_extra,
                        "ts": ts,
                        "guild": guild_id,
                        "user": user_id,
                    },
                )
            return row, from_extra

        row, from_extra = await self._write(plan)
        job = Job.from_row(row)
        job_id = job.id
        log.info(
            "reserved job %s: user %s, %d credit(s) (%d extra) on %s",
            job_id,
            user_id,
            cost,
            from_extra,
            day,
        )
        return job

    async def settle(
        self,
        job_id: int,
        status: FinalStatus,
        *,
        result_url: str | None = None,
        error: str | None = None,
        now: datetime | None = None,
        refund: bool = True,
        refused: bool = False,
    ) -> bool:
        """End a job exactly once; return True if this call ended it.

        A job already final (or unknown) is left alone and False is returned, so
        a result reported twice (the poller and a cancel button racing) is
        harmless. ``failed`` and ``cancelled`` refund the reservation on the day
        it was reserved for, in the same transaction as the status change,
        unless ``refund`` is False: a member who cancels a video the provider
        is already rendering (and billing) does not get the credit back.
        The operator's spend counts a job sent to the provider either way,
        unless ``refused``: the provider answered the submission itself with a
        refusal and no job id, so it never took (or billed) the job.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"settle() needs a final status, not {status!r}")
        give_back = refund and status != "completed"
        params = {
            "status": status,
            "ts": utc(now).timestamp(),
            "result_url": result_url,
            "error": error,
            "job": job_id,
            "unbill": status == "failed" and refused,
            "refund": give_back,
        }

        def plan() -> Plan[bool]:
            if self._backend.cte_writes:
                return (yield scalar(cq.SETTLE_PG, params)) == 1
            row = yield one(cq.SETTLE_JOB_SQLITE, params)
            if row is None:
                return False
            if params["unbill"]:
                yield run(cq.UNBILL_REFUSED, params)
            if give_back:
                yield run(cq.INSERT_REFUND, params)
                if row[0]:  # the job took extra credits: they go back too
                    yield run(oq.RETURN_EXTRA, params)
            return True

        ended = await self._write(plan, single=self._backend.cte_writes)
        if ended:
            kept = "" if refund or status == "completed" else " (credit kept: no refund)"
            log.info("job %s %s%s", job_id, status, kept)
        else:
            log.debug("job %s already final or unknown; %s ignored", job_id, status)
        return ended

    # ------------------------------------------------------------ job updates

    async def update_job(
        self,
        job_id: int,
        *,
        status: ActiveStatus | None = None,
        provider_task_id: str | None = None,
        provider: str | None = None,
        progress: float | None = None,
        message_id: int | None = None,
        channel_id: int | None = None,
        started_at: datetime | float | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record progress on an unfinished job; return False if it is final or unknown.

        Only the arguments given are changed, and ``updated_at`` is touched. A
        final job is never modified, so a late progress event cannot resurrect a
        cancelled job. Moving to ``submitted``/``running`` fills ``started_at``
        if it is still empty; ``started_at`` may be an aware datetime or epoch
        seconds. Final statuses go through :meth:`settle`.

        A ``provider_task_id`` proves the provider accepted the job, so it
        also fills ``submitted_at`` if :meth:`mark_submitting` was not called:
        the job is billable either way.
        """
        if status is not None and status not in ACTIVE_STATUSES:
            raise ValueError(f"update_job() takes an unfinished status, not {status!r}")
        ts = utc(now).timestamp()
        sets: list[str] = ["updated_at = ?"]
        params: list[object] = [ts]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if started_at is not None:
            sets.append("started_at = ?")
            params.append(
                utc(started_at).timestamp() if isinstance(started_at, datetime) else started_at
            )
        elif status in ("submitted", "running"):
            sets.append("started_at = COALESCE(started_at, ?)")
            params.append(ts)
        if progress is not None and not math.isnan(progress):
            # A provider reporting 103% should not turn into a failed job.
            sets.append("progress = ?")
            params.append(min(max(float(progress), 0.0), 100.0))
        if provider_task_id is not None:
            sets.append("submitted_at = COALESCE(submitted_at, ?)")
            params.append(ts)
        for column, value in (
            ("provider_task_id", provider_task_id),
            ("provider", provider),
            ("message_id", message_id),
            ("channel_id", channel_id),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        # Column names come from the fixed list above, never from the caller.
        sql = queries.UPDATE_ACTIVE_JOB.format(sets=", ".join(sets))
        return await self._run(sql, (*params, job_id, *ACTIVE_STATUSES)) == 1


def _from_extra(used: int, cost: int, daily_limit: int, extra: int) -> int | None:
    """How much of ``cost`` the member's extra credits pay, or None if they cannot afford it.

    The day's allowance pays first. Without extra credits this is the original
    rule: refused when ``used + cost`` passes ``daily_limit``.
    """
    if used + cost <= daily_limit:
        return 0
    need = cost - max(daily_limit - used, 0)
    return need if 0 < need <= extra else None
