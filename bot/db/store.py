"""The one place the bot talks to its database: jobs and the per-member credit ledger.

The database is a SQLite file or, with a ``postgresql://`` URL, a PostgreSQL
server shared by several processes; the same plans run on both (see
:mod:`bot.db.base` and :mod:`bot.db.dialect`).

Every video costs the operator money, so quota changes are exact: a credit is
reserved together with the job in one transaction (``BEGIN IMMEDIATE`` on
SQLite; on PostgreSQL one holding the member's and the caps' advisory locks),
and refunded at most once, in the same transaction that ends the job (both in
:mod:`bot.db.credits`).

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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Self

from bot.db import queries
from bot.db.base import Backend
from bot.db.billing import BillingStore
from bot.db.connection import DEFAULT_BUSY_TIMEOUT
from bot.db.credits import CreditStore
from bot.db.dialect import is_database_url
from bot.db.guilds import GuildStore
from bot.db.leases import LeaseStore
from bot.db.models import (
    ACTIVE_STATUSES,
    ActiveStatus,
    utc,
)
from bot.db.pg_backend import DEFAULT_POOL_SIZE, PostgresBackend
from bot.db.reads import JobReads
from bot.db.reports import ReportStore
from bot.db.series import SeriesStore
from bot.db.sqlite_backend import SqliteBackend

log = logging.getLogger(__name__)


class Store(CreditStore, BillingStore, GuildStore, ReportStore, JobReads, SeriesStore, LeaseStore):
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
        store = cls(backend)
        try:
            yield store
        finally:
            try:
                await store._close_batches()
            finally:
                await backend.close()

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
