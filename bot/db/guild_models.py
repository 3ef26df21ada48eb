"""What the operator's part of the store hands out: server and member settings, stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SpendCap:
    """A daily spending cap, checked in the reservation's transaction.

    ``scope`` ``"bot"`` sums every job of the day, ``"server"`` only the job's
    server. ``credits`` and ``micros`` (money, millionths of the currency unit)
    are independent; ``None`` means no cap of that kind.
    """

    scope: Literal["bot", "server"]
    credits: int | None = None
    micros: int | None = None


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's own settings; ``None`` means "use the bot's setting"."""

    guild_id: int
    daily_limit: int | None = None
    budget_credits: int | None = None
    budget_micros: int | None = None


@dataclass(frozen=True, slots=True)
class MemberSettings:
    """A member's settings in one server."""

    guild_id: int
    user_id: int
    daily_limit: int | None = None
    extra_credits: int = 0
    blocked: bool = False
    block_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """Everything the admission rules need about one member in one server, read at once."""

    guild: GuildSettings
    member: MemberSettings
    role_limits: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    channels: tuple[int, ...] = ()  # where /video is allowed; empty means everywhere


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded admin action."""

    id: int
    guild_id: int | None
    actor_id: int
    action: str
    target_id: int | None
    details: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Spend:
    """What a day's jobs cost the operator (under way or sent to the provider): credits, money."""

    credits: int = 0
    micros: int = 0


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Jobs of a period by outcome, and what they cost the operator (refunded or not)."""

    jobs: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    active: int = 0
    credits: int = 0
    micros: int = 0

    @property
    def success_rate(self) -> float | None:
        """Completed out of finished (completed or failed); None before any finished."""
        finished = self.completed + self.failed
        return None if finished == 0 else self.completed / finished


@dataclass(frozen=True, slots=True)
class UserTotal:
    """One member's jobs and what they cost the operator (refunded or not) in a period."""

    user_id: int
    jobs: int
    credits: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The ``/video-admin stats`` numbers for one server (or the whole bot)."""

    today: PeriodStats
    month: PeriodStats
    busiest: tuple[UserTotal, ...]
    render_avg_seconds: float | None  # the provider's, over the month's completed jobs
    render_count: int


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Database-derived numbers for ``/metrics``; counts only ever grow, except gauges."""

    by_status: Mapping[str, int]
    credits_spent: int  # jobs sent to the provider (billed), all time
    micros_spent: int
    render_buckets: tuple[tuple[float, int], ...]  # cumulative (upper bound, count)
    render_sum: float
    render_count: int
    today: Spend
