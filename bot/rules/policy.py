"""The operator's rules as pure functions: which daily limit applies, which caps, which channels.

Precedence of a member's daily limit in a server (first that is set wins):

1. the member's own limit (``/video-admin member-limit``), higher or lower than
   their roles': an explicit decision about one person beats a group rule;
2. the most generous limit among the member's roles (``/video-admin role-limit``);
3. the server's default (``/video-admin server-limit``);
4. ``QUOTA_PER_DAY``.

Extra credits (``/video-admin credits``) come on top of whichever applies: they
are spent only once the day's allowance is used up, and do not expire.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.config import Settings
from bot.db.guild_models import GuildSettings, PolicySnapshot, SpendCap
from bot.db.models import Usage

LimitSource = Literal["member", "role", "server", "bot"]


@dataclass(frozen=True, slots=True)
class ResolvedLimit:
    """The daily limit that applies and why (``role_id`` for a role's limit)."""

    credits: int
    source: LimitSource
    role_id: int | None = None

    def describe(self) -> str:
        """Where the limit comes from, for admins and members."""
        if self.source == "member":
            return "set for this member"
        if self.source == "role":
            return f"from the role <@&{self.role_id}>"
        if self.source == "server":
            return "this server's default"
        return "the bot's default"


def daily_limit(snapshot: PolicySnapshot, bot_default: int) -> ResolvedLimit:
    """The member's daily limit in the snapshot's server, by the precedence above."""
    if snapshot.member.daily_limit is not None:
        return ResolvedLimit(snapshot.member.daily_limit, "member")
    if snapshot.role_limits:
        # Most generous wins; on a tie the lowest role id, so the answer is stable.
        role_id, credits = max(snapshot.role_limits.items(), key=lambda kv: (kv[1], -kv[0]))
        return ResolvedLimit(credits, "role", role_id)
    if snapshot.guild.daily_limit is not None:
        return ResolvedLimit(snapshot.guild.daily_limit, "server")
    return ResolvedLimit(bot_default, "bot")


def spend_caps(settings: Settings, guild: GuildSettings | None) -> tuple[SpendCap, ...]:
    """The daily caps a job must fit: the bot's, and its server's (own setting or default)."""
    caps: list[SpendCap] = []
    if settings.budget_daily_credits is not None or settings.budget_daily_micros is not None:
        caps.append(SpendCap("bot", settings.budget_daily_credits, settings.budget_daily_micros))
    if guild is not None:
        credits, micros = server_budget(settings, guild)
        if credits is not None or micros is not None:
            caps.append(SpendCap("server", credits, micros))
    return tuple(caps)


def server_budget(settings: Settings, guild: GuildSettings) -> tuple[int | None, int | None]:
    """A server's daily caps (credits, money in micros): its own, else the settings' default."""
    credits = guild.budget_credits
    micros = guild.budget_micros
    return (
        settings.budget_server_daily_credits if credits is None else credits,
        settings.budget_server_daily_micros if micros is None else micros,
    )


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
