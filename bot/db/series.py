"""Per-day series of jobs and spend, for the operator's spend chart.

Part of :class:`~bot.db.store.Store`. A job belongs to the UTC day it was
reserved for (the ``day`` column), like every other count the bot keeps, so a
video that ends after midnight stays on the day it was asked for. Spend is
what the operator pays for (``SPENT`` in :mod:`bot.db.operator_queries`): jobs
under way or ever sent to the provider, whether or not the member's credit
was refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from bot.db.base import StoreBase
from bot.db.models import utc
from bot.db.operator_queries import OUTCOME_SUMS
from bot.db.plan import Plan, Row, all_rows, as_int

# The longest series one call reads: a year and a day (a leap year, inclusive).
MAX_SERIES_DAYS: Final = 366

# {scope} is "" or "AND guild_id = ?", chosen by the store. Grouped over the
# jobs_day / jobs_guild_day indexes (migration 2).
DAILY_SERIES: Final = f"""
SELECT day,{OUTCOME_SUMS}
FROM jobs WHERE day >= ? AND day <= ? {{scope}}
GROUP BY day ORDER BY day
"""


@dataclass(frozen=True, slots=True)
class DaySpend:
    """One UTC day: videos by outcome, and what they cost the operator (credits, money).

    ``active`` counts the day's jobs still queued or rendering. ``micros`` is
    money in millionths of the currency unit.
    """

    day: date
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    active: int = 0
    credits: int = 0
    micros: int = 0

    @property
    def videos(self) -> int:
        """Every job of the day, whatever its outcome."""
        return self.completed + self.failed + self.cancelled + self.active


class SeriesStore(StoreBase):
    """``daily_series``: the numbers behind the spend chart."""

    async def daily_series(
        self, guild_id: int | None, *, days: int = 30, now: datetime | None = None
    ) -> tuple[DaySpend, ...]:
        """The last ``days`` UTC days up to the day of ``now``, oldest first, one entry per day.

        Days without jobs are included with zeros, so the series is complete.
        ``guild_id`` ``None`` sums every server (and direct messages). Read on
        the read-only connection, so it never delays a reservation.
        """
        if not 1 <= days <= MAX_SERIES_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_SERIES_DAYS} (got {days})")
        last = utc(now).date()
        first = last - timedelta(days=days - 1)
        scope = "" if guild_id is None else "AND guild_id = ?"
        extra = () if guild_id is None else (guild_id,)
        op = all_rows(
            DAILY_SERIES.format(scope=scope), (first.isoformat(), last.isoformat(), *extra)
        )

        def plan() -> Plan[list[Row]]:
            return (yield op)

        rows = await self._snapshot(plan)
        found = {
            str(row[0]): DaySpend(date.fromisoformat(row[0]), *(as_int(v) for v in tuple(row)[1:]))
            for row in rows
        }
        return tuple(
            found.get(day.isoformat(), DaySpend(day))
            for day in (first + timedelta(days=n) for n in range(days))
        )
