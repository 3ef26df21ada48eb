"""The store's plain reads and its small key/value table; part of :class:`~bot.db.store.Store`."""

from __future__ import annotations

from datetime import datetime

from bot.db import queries
from bot.db.base import StoreBase
from bot.db.models import ACTIVE_STATUSES, Job, Usage, next_reset, quota_day, utc


class JobReads(StoreBase):
    """Jobs and usage by id or member, and bot metadata: quick indexed lookups."""

    async def get_job(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        row = await self._one(queries.SELECT_JOB, (job_id,))
        return None if row is None else Job.from_row(row)

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not yet final, oldest first: what to resume after a restart."""
        return await self._jobs(queries.UNFINISHED_JOBS, ACTIVE_STATUSES)

    async def recent_jobs(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Job]:
        """A member's jobs, newest first, ``limit`` at a time from ``offset``."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        return await self._jobs(queries.RECENT_JOBS, (user_id, limit, offset))

    async def running_count(self, user_id: int) -> int:
        """How many of the member's jobs are queued, submitted or running."""
        return await self._scalar(queries.RUNNING_COUNT, (user_id,))

    async def usage(self, user_id: int, daily_limit: int, *, now: datetime | None = None) -> Usage:
        """The member's credits on the UTC day of ``now``, against ``daily_limit``."""
        at = utc(now)
        used = await self._scalar(queries.USED_ON_DAY, {"user": user_id, "day": quota_day(at)})
        return Usage(
            used=used,
            limit=daily_limit,
            remaining=max(daily_limit - used, 0),
            resets_at=next_reset(at),
        )

    # ------------------------------------------------------------ bot metadata

    async def get_meta(self, key: str) -> str | None:
        """A small piece of bot state by name (e.g. the last synced command hash), or None."""
        row = await self._one(queries.GET_META, (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str, *, now: datetime | None = None) -> None:
        """Store ``value`` under ``key``, replacing any earlier value."""
        await self._run(queries.SET_META, (key, value, utc(now).timestamp()))
