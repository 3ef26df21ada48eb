"""Read-only numbers: a day's spend for budgets, admin stats, and metrics for Prometheus.

Spend is what the operator pays for (``SPENT``/``BILLED`` in
:mod:`bot.db.operator_queries`), whether or not the member's credit was refunded.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.db import operator_queries as oq
from bot.db.base import StoreBase
from bot.db.guild_models import (
    MetricsSnapshot,
    PeriodStats,
    Spend,
    Stats,
    UserTotal,
)
from bot.db.models import quota_day, utc
from bot.db.plan import Plan, Row, all_rows, as_int, one

# Upper bounds (seconds) of the render-time histogram: videos take minutes.
RENDER_BUCKETS: tuple[float, ...] = (15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)


def read_spend(day: str, guild_id: int | None) -> Plan[Spend]:
    """A plan: the spend of ``day`` (SPENT) in one server, or in the whole bot with ``None``."""
    if guild_id is None:
        row = yield one(oq.SPEND_ON_DAY, (day,))
    else:
        row = yield one(oq.SPEND_ON_DAY_IN_GUILD, (day, guild_id))
    return Spend(as_int(row[0]), as_int(row[1])) if row else Spend()


class ReportStore(StoreBase):
    """Sums over jobs; part of :class:`~bot.db.store.Store`."""

    async def spend(self, guild_id: int | None = None, *, now: datetime | None = None) -> Spend:
        """What the day's jobs cost the operator, for one server or (``None``) the whole bot.

        Counted like the caps count it: jobs under way or ever sent to the provider.
        """
        day = quota_day(utc(now))
        return await self._snapshot(lambda: read_spend(day, guild_id))

    async def stats(
        self, guild_id: int | None, *, now: datetime | None = None, top: int = 5
    ) -> Stats:
        """Today's and this month's (UTC) jobs of a server, or of every server with ``None``."""
        today = utc(now).date()
        month_start = today.replace(day=1)
        scope = "" if guild_id is None else "AND guild_id = ?"
        extra = () if guild_id is None else (guild_id,)
        month = (month_start.isoformat(), today.isoformat())

        # Month-long sums: one snapshot on the read-only side, beside reservations.
        def plan() -> Plan[Stats]:
            day_stats = yield from _period(today, today, scope, extra)
            month_stats = yield from _period(month_start, today, scope, extra)
            rows = yield all_rows(oq.BUSIEST.format(scope=scope), (*month, *extra, top))
            render = yield one(oq.RENDER_TIME, month)
            busiest = tuple(UserTotal(int(r[0]), as_int(r[1]), as_int(r[2])) for r in rows)
            average = None if render is None or render[0] is None else float(render[0])
            count = as_int(render[1]) if render else 0
            return Stats(day_stats, month_stats, busiest, average, count)

        return await self._snapshot(plan)

    async def metrics_snapshot(self, *, now: datetime | None = None) -> MetricsSnapshot:
        """Job counts by status, all-time billed spend, render times, and today's spend.

        Read on the read-only connection (one snapshot, two queries over
        covering indexes), so a scrape never waits for or delays a reservation.
        """
        day = quota_day(utc(now))
        buckets = ", ".join(
            f"COALESCE(SUM(CASE WHEN d <= {bound:g} THEN 1 ELSE 0 END), 0)"
            for bound in RENDER_BUCKETS
        )

        def plan() -> Plan[tuple[list[Row], Row | None]]:
            rows = yield all_rows(oq.TOTALS_BY_STATUS.format(buckets=buckets))
            today = yield one(oq.SPEND_ON_DAY, (day,))
            return rows, today

        rows, today = await self._snapshot(plan)
        assert today is not None  # an aggregate always has a row
        n = len(RENDER_BUCKETS)
        counts, render_sum, render_count = [0] * n, 0.0, 0
        for row in rows:
            values = tuple(row)
            counts = [c + as_int(v) for c, v in zip(counts, values[4 : 4 + n], strict=True)]
            render_sum += float(values[4 + n])
            render_count += as_int(values[5 + n])
        return MetricsSnapshot(
            by_status={str(r[0]): as_int(r[1]) for r in rows},
            credits_spent=sum(as_int(r[2]) for r in rows),
            micros_spent=sum(as_int(r[3]) for r in rows),
            render_buckets=tuple(zip(RENDER_BUCKETS, counts, strict=True)),
            render_sum=render_sum,
            render_count=render_count,
            today=Spend(as_int(today[0]), as_int(today[1])),
        )


def _period(first: date, last: date, scope: str, extra: tuple[int, ...]) -> Plan[PeriodStats]:
    row = yield one(
        oq.PERIOD_STATS.format(scope=scope), (first.isoformat(), last.isoformat(), *extra)
    )
    if row is None:
        return PeriodStats()
    return PeriodStats(*(as_int(v) for v in row))
