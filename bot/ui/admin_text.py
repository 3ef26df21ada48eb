"""Pure rendering of `/video-admin` answers: member standing, stats, budgets, audit log."""

from __future__ import annotations

from bot.db.guild_models import AuditEntry, PeriodStats, Spend, Stats
from bot.rules.costs import format_money
from bot.rules.policy import Standing, credits
from bot.ui.markdown import escape
from bot.ui.progress import format_elapsed

LIMIT = 2000


def limit_text(value: int | None, unset: str) -> str:
    """``5 credits a day`` or what applies when nothing is set."""
    return unset if value is None else f"{credits(value)} a day"


def standing_text(member_id: int, standing: Standing) -> str:
    """A member's limit and where it comes from, usage today, extras, block."""
    usage = standing.usage
    lines = [
        f"**<@{member_id}>**: daily limit **{usage.limit}** ({standing.limit.describe()}).",
        f"Used today: **{usage.used}**; left: **{usage.remaining}**; "
        f"extra credits: **{standing.extra}**.",
    ]
    if standing.running:
        lines.append(f"Videos in progress: {standing.running}.")
    if standing.blocked:
        lines.append("⛔ Blocked from making videos in this server.")
    return "\n".join(lines)


def _period(name: str, period: PeriodStats, currency: str) -> str:
    rate = period.success_rate
    success = "n/a" if rate is None else f"{rate:.0%}"
    return (
        f"**{name}:** {period.jobs} jobs · {period.completed} completed, {period.failed} failed, "
        f"{period.cancelled} cancelled, {period.active} in progress · success {success} · "
        f"{credits(period.credits)} · ≈ {format_money(period.micros, currency)}"
    )


def cap_text(
    label: str, spend: Spend, cap_credits: int | None, cap_micros: int | None, cur: str
) -> str:
    """``label 3/20 credits and 0.40 USD of 5.00 USD`` (or ``no cap``)."""
    parts = []
    if cap_credits is not None:
        parts.append(f"{spend.credits}/{cap_credits} credits")
    if cap_micros is not None:
        parts.append(f"{format_money(spend.micros, cur)} of {format_money(cap_micros, cur)}")
    return f"{label} " + (" and ".join(parts) if parts else "no daily cap")


def stats_text(
    stats: Stats,
    *,
    scope: str,
    currency: str,
    budgets: list[tuple[str, Spend, int | None, int | None]],
) -> str:
    """The `stats` answer: today, this month, budgets, busiest members, render time."""
    lines = [
        f"📊 **Video stats for {scope}** (UTC days)",
        _period("Today", stats.today, currency),
        _period("This month", stats.month, currency),
    ]
    if budgets:
        shown = " · ".join(cap_text(label, s, c, m, currency) for label, s, c, m in budgets)
        lines.append(f"**Budget today:** {shown}")
    if stats.busiest:
        busiest = ", ".join(
            f"<@{u.user_id}> {u.jobs} jobs ({credits(u.credits)})" for u in stats.busiest
        )
        lines.append(f"**Busiest this month:** {busiest}")
    if stats.render_avg_seconds is None:
        lines.append("**Provider's average render time:** no completed videos this month")
    else:
        lines.append(
            f"**Provider's average render time:** {format_elapsed(stats.render_avg_seconds)} "
            f"over {stats.render_count} videos this month"
        )
    return "\n".join(lines)[:LIMIT]


def audit_text(entries: list[AuditEntry]) -> str:
    """The newest admin actions, one per line."""
    if not entries:
        return "No admin actions recorded in this server yet."
    lines = ["🗒️ **Recent admin actions** (newest first)"]
    for entry in entries:
        stamp = int(entry.created_at.timestamp())
        target = f" → {entry.target_id}" if entry.target_id is not None else ""
        # Values are typed by admins (a block reason...): shown as typed, not as Markdown.
        details = ", ".join(
            f"{k}={escape(str(v), 200, mentions=True)}"
            for k, v in entry.details.items()
            if v is not None
        )
        lines.append(
            f"<t:{stamp}:f> <@{entry.actor_id}> **{entry.action}**{target}"
            + (f" ({details})" if details else "")
        )
    text = "\n".join(lines)
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def channels_text(channels: tuple[int, ...]) -> str:
    """Where `/video` is allowed."""
    if not channels:
        return "`/video` is allowed in every channel of this server."
    return "`/video` is allowed only in: " + ", ".join(f"<#{c}>" for c in channels)


def limit_ceiling_text(ceiling: int) -> str:
    """Refusal of a daily limit above ``SERVER_MAX_DAILY_LIMIT``."""
    return (
        f"The bot's operator allows at most {credits(ceiling)} a day for a member, a role or "
        "the server (`SERVER_MAX_DAILY_LIMIT`); only they can raise it. Nothing was changed."
    )


def extra_ceiling_text(member_id: int, balance: int, ceiling: int) -> str:
    """Refusal of extra credits that would pass ``SERVER_MAX_EXTRA_CREDITS``."""
    if ceiling == 0:
        return (
            "The bot's operator has turned extra credits off (`SERVER_MAX_EXTRA_CREDITS` is 0). "
            "Nothing was changed."
        )
    room = max(ceiling - balance, 0)
    return (
        f"The bot's operator allows a member at most {ceiling} extra credits in a server "
        f"(`SERVER_MAX_EXTRA_CREDITS`). <@{member_id}> has {balance}, so you can add at most "
        f"{room}. Nothing was changed."
    )


def budget_ceiling_text(what: str, variable: str) -> str:
    """Refusal of a server budget above ``SERVER_MAX_BUDGET_*`` (``what``: the ceiling)."""
    return (
        f"The bot's operator allows this server's daily budget at most {what} (`{variable}`); "
        "only they can raise it. Nothing was changed."
    )


NOT_SERVED = (
    "This bot is not available in this server: its operator runs it for their own servers "
    "only. Nothing was done."
)
