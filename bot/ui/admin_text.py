"""Pure rendering of `/video-admin` answers: member standing, stats, budgets, audit log.

Every answer is private, so it is written in the reader's ``locale`` (the
member's Discord language); refusals are :class:`~bot.i18n.Msg` objects,
translated where they are shown. Numbers keep their formatting in every language.
"""

from __future__ import annotations

from bot.db.guild_models import AuditEntry, PeriodStats, Spend, Stats
from bot.i18n import DEFAULT_LOCALE, N_, Msg, msg, nmsg, t, tn
from bot.rules.costs import format_money
from bot.rules.policy import ResolvedLimit, Standing
from bot.ui.markdown import escape
from bot.ui.progress import format_elapsed

LIMIT = 2000


def credits(n: int, locale: str = DEFAULT_LOCALE) -> str:
    """``1 credit``, ``3 credits`` in ``locale``."""
    return tn(locale, "{n} credit", "{n} credits", n)


def limit_text(value: int | None, unset: str, locale: str = DEFAULT_LOCALE) -> str:
    """``5 credits a day`` or what applies when nothing is set."""
    if value is None:
        return unset
    return t(locale, "{credits} a day", credits=credits(value, locale))


def source_text(limit: ResolvedLimit, locale: str = DEFAULT_LOCALE) -> str:
    """Where a member's daily limit comes from (the words of ``ResolvedLimit.describe``)."""
    if limit.source == "member":
        where = t(locale, "set for this member")
    elif limit.source == "role":
        where = t(locale, "from the role {role}", role=f"<@&{limit.role_id}>")
    elif limit.source == "server":
        where = t(locale, "this server's default")
    else:
        return t(locale, "the bot's default")
    return (
        t(locale, "{source}, capped at the bot's maximum", source=where) if limit.capped else where
    )


def standing_text(member_id: int, standing: Standing, locale: str = DEFAULT_LOCALE) -> str:
    """A member's limit and where it comes from, usage today, extras, block."""
    usage = standing.usage
    lines = [
        t(
            locale,
            "**{member}**: daily limit **{limit}** ({source}).",
            member=f"<@{member_id}>",
            limit=usage.limit,
            source=source_text(standing.limit, locale),
        ),
        t(
            locale,
            "Used today: **{used}**; left: **{left}**; extra credits: **{extra}**.",
            used=usage.used,
            left=usage.remaining,
            extra=standing.extra,
        ),
    ]
    if standing.running:
        lines.append(t(locale, "Videos in progress: {n}.", n=standing.running))
    if standing.blocked:
        lines.append(t(locale, "⛔ Blocked from making videos in this server."))
    return "\n".join(lines)


def _period(name: str, period: PeriodStats, currency: str, locale: str) -> str:
    rate = period.success_rate
    success = t(locale, "n/a") if rate is None else f"{rate:.0%}"
    return t(
        locale,
        "**{period}:** {jobs} jobs · {completed} completed, {failed} failed, "
        "{cancelled} cancelled, {active} in progress · success {success} · "
        "{credits} · ≈ {money}",
        period=t(locale, name),
        jobs=period.jobs,
        completed=period.completed,
        failed=period.failed,
        cancelled=period.cancelled,
        active=period.active,
        success=success,
        credits=credits(period.credits, locale),
        money=format_money(period.micros, currency),
    )


#: The labels of :func:`stats_text`'s budgets ("server", "bot"), translated when shown.
BUDGET_LABELS = {"server": N_("server"), "bot": N_("bot")}


def cap_text(
    label: str,
    spend: Spend,
    cap_credits: int | None,
    cap_micros: int | None,
    cur: str,
    locale: str = DEFAULT_LOCALE,
) -> str:
    """``label 3/20 credits and 0.40 USD of 5.00 USD`` (or ``no cap``)."""
    parts = []
    if cap_credits is not None:
        parts.append(t(locale, "{spent}/{cap} credits", spent=spend.credits, cap=cap_credits))
    if cap_micros is not None:
        parts.append(
            t(
                locale,
                "{spent} of {cap}",
                spent=format_money(spend.micros, cur),
                cap=format_money(cap_micros, cur),
            )
        )
    if len(parts) == 2:
        shown = t(locale, "{credits} and {money}", credits=parts[0], money=parts[1])
    else:
        shown = parts[0] if parts else t(locale, "no daily cap")
    return f"{label} {shown}"


def stats_text(
    stats: Stats,
    *,
    scope: str,
    currency: str,
    budgets: list[tuple[str, Spend, int | None, int | None]],
    locale: str = DEFAULT_LOCALE,
) -> str:
    """The `stats` answer: today, this month, budgets, busiest members, render time.

    ``scope`` is already in ``locale``; budget labels are keys of :data:`BUDGET_LABELS`.
    """
    lines = [
        t(locale, "📊 **Video stats for {scope}** (UTC days)", scope=scope),
        _period(N_("Today"), stats.today, currency, locale),
        _period(N_("This month"), stats.month, currency, locale),
    ]
    if budgets:
        shown = " · ".join(
            cap_text(t(locale, BUDGET_LABELS.get(label, label)), s, c, m, currency, locale)
            for label, s, c, m in budgets
        )
        lines.append(t(locale, "**Budget today:** {budgets}", budgets=shown))
    if stats.busiest:
        busiest = ", ".join(
            t(
                locale,
                "{member} {jobs} jobs ({credits})",
                member=f"<@{u.user_id}>",
                jobs=u.jobs,
                credits=credits(u.credits, locale),
            )
            for u in stats.busiest
        )
        lines.append(t(locale, "**Busiest this month:** {members}", members=busiest))
    if stats.render_avg_seconds is None:
        lines.append(
            t(locale, "**Provider's average render time:** no completed videos this month")
        )
    else:
        lines.append(
            t(
                locale,
                "**Provider's average render time:** {elapsed} over {n} videos this month",
                elapsed=format_elapsed(stats.render_avg_seconds, locale),
                n=stats.render_count,
            )
        )
    return "\n".join(lines)[:LIMIT]


def audit_text(entries: list[AuditEntry], locale: str = DEFAULT_LOCALE) -> str:
    """The newest admin actions, one per line (actions and keys as recorded: they are data)."""
    if not entries:
        return t(locale, "No admin actions recorded in this server yet.")
    lines = [t(locale, "🗒️ **Recent admin actions** (newest first)")]
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


def channels_text(channels: tuple[int, ...], locale: str = DEFAULT_LOCALE) -> str:
    """Where `/video` is allowed."""
    if not channels:
        return t(locale, "`/video` is allowed in every channel of this server.")
    listed = ", ".join(f"<#{c}>" for c in channels)
    return t(locale, "`/video` is allowed only in: {channels}", channels=listed)


def limit_ceiling_text(ceiling: int) -> Msg:
    """Refusal of a daily limit above ``SERVER_MAX_DAILY_LIMIT``."""
    return msg(
        "The bot's operator allows at most {credits} a day for a member, a role or "
        "the server (`SERVER_MAX_DAILY_LIMIT`); only they can raise it. Nothing was changed.",
        credits=nmsg("{n} credit", "{n} credits", ceiling),
    )


def extra_ceiling_text(member_id: int, balance: int, ceiling: int) -> Msg:
    """Refusal of extra credits that would pass ``SERVER_MAX_EXTRA_CREDITS``."""
    if ceiling == 0:
        return msg(
            "The bot's operator has turned extra credits off (`SERVER_MAX_EXTRA_CREDITS` is 0). "
            "Nothing was changed."
        )
    room = max(ceiling - balance, 0)
    return msg(
        "The bot's operator allows a member at most {ceiling} extra credits in a server "
        "(`SERVER_MAX_EXTRA_CREDITS`). {member} has {balance}, so you can add at most "
        "{room}. Nothing was changed.",
        ceiling=ceiling,
        member=f"<@{member_id}>",
        balance=balance,
        room=room,
    )


def budget_ceiling_text(what: str | Msg, variable: str) -> Msg:
    """Refusal of a server budget above ``SERVER_MAX_BUDGET_*`` (``what``: the ceiling)."""
    return msg(
        "The bot's operator allows this server's daily budget at most {ceiling} (`{variable}`); "
        "only they can raise it. Nothing was changed.",
        ceiling=what,
        variable=variable,
    )


NOT_SERVED = N_(
    "This bot is not available in this server: its operator runs it for their own servers "
    "only. Nothing was done."
)
