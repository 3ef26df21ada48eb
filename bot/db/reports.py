"""Read-only numbers: a day's spend for budgets, admin stats, and metrics for Prometheus."""

from __future__ import annotations

from datetime import date, datetime

from bot.db import operator_queries as oq
from bot.db.base import StoreBase
from bot.db.errors import BudgetExceeded
from bot.db.guild_models import (
    MetricsSnapshot,
    PeriodStats,
    Spend,
    SpendCap,
    Stats,
    UserTotal,
)
from bot.db.models import next_reset, quota_day, utc

# Upper bounds (seconds) of the render-time histogram: videos take minutes.
RENDER_BUCKETS: tuple[float, ...] = (15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)


class ReportStore(StoreBase):
    """Sums over jobs; part of :class:`~bot.db.store.Store`."""

    async def _check_cap(
        self, cap: SpendCap, day: str, guild_id: int | None, cost: int, micros: int, at: datetime
    ) -> None:
        """Raise BudgetExceeded if this job would pass ``cap``; inside reserve's transaction."""
        if cap.scope == "server":
            if guild_id is None:
                return
            row = await self._one(oq.SPEND_ON_DAY_IN_GUILD, (day, guild_id))
        else:
            row = await self._one(oq.SPEND_ON_DAY, (day,))
        spent_credits, spent_micros = (int(row[0]), int(row[1])) if row else (0, 0)
        if cap.credits is not None and spent_credits + cost > cap.credits:
            raise BudgetExceeded(
                cap.scope, "credits", spent_credits, cap.credits, cost, next_reset(at)
            )
        if cap.micros is not None and spent_micros + micros > cap.micros:
            raise BudgetExceeded(
                cap.scope, "micros", spent_micros, cap.micros, micros, next_reset(at)
            )

    async def spend(self, guild_id: int | None = None, *, now: datetime | None = None) -> Spend:
        """What the day's jobs not refunded cost, for one server or (``None``) the whole bot."""
        day = quota_day(utc(now))
        async with self._locked():
            if guild_id is None:
                row = await self._one(oq.SPEND_ON_DAY, (day,))
            else:
                row = await self._one(oq.SPEND_ON_DAY_IN_GUILD, (day, guild_id))
        return Spend(int(row[0]), int(row[1])) if row else Spend()

    async def stats(
        self, guild_id: int | None, *, now: datetime | None = None, top: int = 5
    ) -> Stats:
        """Today's and this month's (UTC) jobs of a server, or of every server with ``None``."""
        today = utc(now).date()
        month_start = today.replace(day=1)
        scope = "" if guild_id is None else "AND guild_id = ?"
        extra = () if guild_id is None else (guild_id,)
        async with self._locked():
            day_stats = await self._period(today, today, scope, extra)
            month_stats = await self._period(month_start, today, scope, extra)
            rows = await self._all(
                oq.BUSIEST.format(scope=scope),
                (month_start.isoformat(), today.isoformat(), *extra, top),
            )
            render = await self._one(oq.RENDER_TIME, (month_start.isoformat(), today.isoformat()))
        busiest = tuple(UserTotal(r[0], r[1], r[2]) for r in rows)
        average = None if render is None or render[0] is None else float(render[0])
        return Stats(day_stats, month_stats, busiest, average, int(render[1]) if render else 0)

    async def _period(
        self, first: date, last: date, scope: str, extra: tuple[int, ...]
    ) -> PeriodStats:
        row = await self._one(
            oq.PERIOD_STATS.format(scope=scope), (first.isoformat(), last.isoformat(), *extra)
        )
        if row is None:
            return PeriodStats()
        return PeriodStats(*(int(v) for v in row))

    async def metrics_snapshot(self, *, now: datetime | None = None) -> MetricsSnapshot:
        """Job counts by status, all-time spend, render times, and today's spend."""
        day = quota_day(utc(now))
        buckets = ", ".join(f"COALESCE(SUM(d <= {bound:g}), 0)" for bound in RENDER_BUCKETS)
        async with self._locked():
            by_status = {r[0]: int(r[1]) for r in await self._all(oq.JOBS_BY_STATUS, ())}
            spent = await self._one(oq.COMPLETED_SPEND, ())
            histogram = await self._one(oq.RENDER_HISTOGRAM.format(buckets=buckets), ())
            today = await self._one(oq.SPEND_ON_DAY, (day,))
        assert spent is not None and histogram is not None and today is not None  # aggregates
        counts = [int(v) for v in tuple(histogram)[: len(RENDER_BUCKETS)]]
        return MetricsSnapshot(
            by_status=by_status,
            credits_spent=int(spent[0]),
            micros_spent=int(spent[1]),
            render_buckets=tuple(zip(RENDER_BUCKETS, counts, strict=True)),
            render_sum=float(histogram[len(RENDER_BUCKETS)]),
            render_count=int(histogram[len(RENDER_BUCKETS) + 1]),
            today=Spend(int(today[0]), int(today[1])),
        )
