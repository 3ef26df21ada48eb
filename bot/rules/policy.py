"""The operator's rules as pure functions: which daily limit applies, which caps, which channels.

Precedence of a member's daily limit in a server (first that is set wins):

1. the member's own limit (``/video-admin member-limit``), higher or lower than
   their roles': an explicit decision about one person beats a group rule;
2. the most generous limit among the member's roles (``/video-admin role-limit``);
3. the server's default (``/video-admin server-limit``);
4. ``QUOTA_PER_DAY``.

Extra credits (``/video-admin credits``) come on top of whichever applies: they
are spent only once the day's allowance is used up, and do not expire.

The operator's ceilings (``SERVER_MAX_*``) bound every server-level setting
here, when it is used: a limit, a balance or a budget stored above a ceiling
counts as the ceiling, so lowering a ceiling takes effect at once, without
touching what servers stored. The bot's own defaults are the operator's and
are not clamped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from bot.db.guild_models import GuildSettings, PolicySnapshot, SpendCap
from bot.db.models import Usage

LimitSource = Literal["member", "role", "server", "bot"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's numbers these rules read, from ``Settings.limits``.

    A value handed down rather than the settings imported keeps the rules below
    the configuration, which parses its values with :mod:`bot.rules`. ``*_micros``
    are money in millionths; ``None`` means no cap or no ceiling.
    """

    quota_per_day: int
    daily_limit_ceiling: int  # the most a server may set as a daily limit
    server_max_extra_credits: int  # the most extra credits a member may hold in one server
    budget_daily_credits: int | None = None  # bot-wide caps
    budget_daily_micros: int | None = None
    budget_server_daily_credits: int | None = None  # every server's default caps
    budget_server_daily_micros: int | None = None
    budget_credits_ceiling: int | None = None  # the most a server's own budget may be
    budget_micros_ceiling: int | None = None


@dataclass(frozen=True, slots=True)
class ResolvedLimit:
    """The daily limit that applies and why (``role_id`` for a role's limit).

    ``capped`` is True when the server's setting was higher than the operator's
    ceiling and ``credits`` is that ceiling.
    """

    credits: int
    source: LimitSource
    role_id: int | None = None
    capped: bool = False

    def describe(self) -> str:
        """Where the limit comes from, for admins and members."""
        if self.source == "member":
            where = "set for this member"
        elif self.source == "role":
            where = f"from the role <@&{self.role_id}>"
        elif self.source == "server":
            where = "this server's default"
        else:
            return "the bot's default"
        return f"{where}, capped at the bot's maximum" if self.capped else where


def daily_limit(
    snapshot: PolicySnapshot, bot_default: int, ceiling: int | None = None
) -> ResolvedLimit:
    """The member's daily limit in the snapshot's server, by the precedence above.

    A server-level limit (member, role or server) above ``ceiling`` counts as
    ``ceiling`` (``SERVER_MAX_DAILY_LIMIT``; ``None``: no ceiling).
    """
    if snapshot.member.daily_limit is not None:
        return _capped(ResolvedLimit(snapshot.member.daily_limit, "member"), ceiling)
    if snapshot.role_limits:
        # Most generous wins; on a tie the lowest role id, so the answer is stable.
        role_id, credits = max(snapshot.role_limits.items(), key=lambda kv: (kv[1], -kv[0]))
        return _capped(ResolvedLimit(credits, "role", role_id), ceiling)
    if snapshot.guild.daily_limit is not None:
        return _capped(ResolvedLimit(snapshot.guild.daily_limit, "server"), ceiling)
    return ResolvedLimit(bot_default, "bot")


def _capped(limit: ResolvedLimit, ceiling: int | None) -> ResolvedLimit:
    if ceiling is None or limit.credits <= ceiling:
        return limit
    return ResolvedLimit(ceiling, limit.source, limit.role_id, capped=True)


def member_limit(snapshot: PolicySnapshot, settings: Limits) -> ResolvedLimit:
    """:func:`daily_limit` with the settings' default and ceiling."""
    return daily_limit(snapshot, settings.quota_per_day, settings.daily_limit_ceiling)


def usable_extra(balance: int, settings: Limits) -> int:
    """The extra credits a member may spend: their balance, at most ``SERVER_MAX_EXTRA_CREDITS``."""
    return max(min(balance, settings.server_max_extra_credits), 0)


def guild_allowed(allowed: Collection[int], guild_id: int | None) -> bool:
    """Whether the bot serves an interaction from ``guild_id`` (``ALLOWED_GUILD_IDS``).

    Outside servers (``None``: DMs) always; in a server when the list is empty
    (every server) or names it.
    """
    return guild_id is None or not allowed or guild_id in allowed


def spend_caps(settings: Limits, guild: GuildSettings | None) -> tuple[SpendCap, ...]:
    """The daily caps a job must fit: the bot's, and its server's (own setting or default)."""
    caps: list[SpendCap] = []
    if settings.budget_daily_credits is not None or settings.budget_daily_micros is not None:
        caps.append(SpendCap("bot", settings.budget_daily_credits, settings.budget_daily_micros))
    if guild is not None:
        credits, micros = server_budget(settings, guild)
        if credits is not None or micros is not None:
            caps.append(SpendCap("server", credits, micros))
    return tuple(caps)


def server_budget(settings: Limits, guild: GuildSettings) -> tuple[int | None, int | None]:
    """A server's daily caps (credits, money in micros): its own, else the settings' default.

    A server's own cap above the operator's ceiling (``SERVER_MAX_BUDGET_*``)
    counts as the ceiling.
    """
    credits = guild.budget_credits
    micros = guild.budget_micros
    return (
        settings.budget_server_daily_credits
        if credits is None
        else _at_most(credits, settings.budget_credits_ceiling),
        settings.budget_server_daily_micros
        if micros is None
        else _at_most(micros, settings.budget_micros_ceiling),
    )


def _at_most(value: int, ceiling: int | None) -> int:
    return value if ceiling is None else min(value, ceiling)


def channel_allowed(allowed: Iterable[int], channel_id: int, parent_id: int | None) -> bool:
    """Whether ``/video`` may run in a channel (a thread counts as its parent channel)."""
    chosen = set(allowed)
    return not chosen or channel_id in chosen or (parent_id is not None and parent_id in chosen)


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's credits under the rules: today's usage, extras, jobs in progress, block."""

    usage: Usage
    limit: ResolvedLimit
    extra: int
    running: int
    blocked: bool


def credits(n: int) -> str:
    """``1 credit``, ``3 credits``."""
    return f"{n} credit{'' if n == 1 else 's'}"
