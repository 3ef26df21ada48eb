"""What the store hands out: frozen dataclasses, never sqlite rows.

Also the few time helpers that decide which UTC day a credit belongs to, kept
here so the store and its callers agree on the day boundary.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, cast

JobStatus = Literal["queued", "submitted", "running", "completed", "failed", "cancelled"]
ActiveStatus = Literal["queued", "submitted", "running"]
FinalStatus = Literal["completed", "failed", "cancelled"]

ACTIVE_STATUSES: Final[tuple[ActiveStatus, ...]] = ("queued", "submitted", "running")
FINAL_STATUSES: Final[tuple[FinalStatus, ...]] = ("completed", "failed", "cancelled")

# Every column of `jobs`, in the order Job.from_row expects them by name. Listed
# rather than `SELECT *` so a later migration adding a column cannot change what
# old code reads.
JOB_COLUMNS: Final = (
    "id, user_id, guild_id, channel_id, message_id, interaction_token, application_id,"
    " prompt, options, image_url, protocol, provider_task_id, status, progress,"
    " result_url, error, cost, day, created_at, updated_at, started_at, finished_at,"
    " price_micros, extra_used, submitted_at, provider"
)


def utc(now: datetime | None = None) -> datetime:
    """``now`` in UTC (default: the current time). Naive datetimes are refused.

    A naive datetime would silently be read as local time and shift the quota
    day by the server's offset, so it is a programming error here.
    """
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def quota_day(now: datetime) -> str:
    """The UTC date ``YYYY-MM-DD`` a credit reserved at ``now`` counts against."""
    return utc(now).date().isoformat()


def next_reset(now: datetime) -> datetime:
    """The next UTC midnight after ``now``: when the daily quota starts afresh."""
    today = utc(now).date()
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=UTC)


def from_epoch(value: float | None) -> datetime | None:
    """A stored epoch-seconds value as an aware UTC datetime (``None`` stays ``None``)."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dump_options(options: Mapping[str, Any]) -> str:
    """``options`` as the JSON text stored in ``jobs.options``.

    Raises ``TypeError`` before any SQL runs if a value is not JSON-serialisable.
    """
    return json.dumps(dict(options), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Job:
    """One video request and where it stands. Timestamps are aware UTC datetimes."""

    id: int
    user_id: int
    guild_id: int | None
    channel_id: int
    message_id: int | None
    # Kept out of repr so a logged Job never leaks a token that can post as the bot.
    interaction_token: str | None = field(repr=False)
    application_id: int | None
    prompt: str
    options: Mapping[str, Any] = field(hash=False)
    image_url: str | None
    protocol: str
    provider_task_id: str | None
    status: JobStatus
    progress: float | None
    result_url: str | None
    error: str | None
    cost: int
    day: date
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    price_micros: int = 0  # estimated money, millionths of the currency unit (migration 2)
    extra_used: int = 0  # credits taken from the member's extra credits (migration 2)
    # When the submission was sent to the provider: billable from then on (migration 3).
    submitted_at: datetime | None = None
    # Which PROVIDERS entry took the job (migration 4); None: the first of its protocol.
    provider: str | None = None

    @property
    def is_final(self) -> bool:
        """True once the job completed, failed or was cancelled; it never changes again."""
        return self.status in FINAL_STATUSES

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """Build a Job from a row selected with :data:`JOB_COLUMNS`."""
        created = from_epoch(row["created_at"])
        updated = from_epoch(row["updated_at"])
        assert created is not None and updated is not None  # NOT NULL in the schema
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            message_id=row["message_id"],
            interaction_token=row["interaction_token"],
            application_id=row["application_id"],
            prompt=row["prompt"],
            # Read-only view: the dataclass is frozen, its options should be too.
            options=MappingProxyType(json.loads(row["options"])),
            image_url=row["image_url"],
            protocol=row["protocol"],
            provider_task_id=row["provider_task_id"],
            status=cast(JobStatus, row["status"]),
            progress=row["progress"],
            result_url=row["result_url"],
            error=row["error"],
            cost=row["cost"],
            day=date.fromisoformat(row["day"]),
            created_at=created,
            updated_at=updated,
            started_at=from_epoch(row["started_at"]),
            finished_at=from_epoch(row["finished_at"]),
            price_micros=row["price_micros"],
            extra_used=row["extra_used"],
            submitted_at=from_epoch(row["submitted_at"]),
            provider=row["provider"],
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """A member's credits on one UTC day: ``used`` of ``limit``, reset at ``resets_at``."""

    used: int
    limit: int
    remaining: int
    resets_at: datetime
