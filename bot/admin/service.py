"""`/video-admin`'s domain: each action with its answer.

Actions go through :class:`~bot.db.store.Store` methods that record an audit
row (who, what, on whom) in the same transaction as the change. Each method
returns the ephemeral answer to show the admin, in their ``locale``; a
refusal is a :class:`~bot.errors.UserError` carrying a message translated when
shown. Who may use them is decided by :func:`bot.rules.access.may_manage`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from bot.config import Settings
from bot.db import Store
from bot.db.guild_models import Spend
from bot.db.guilds import CeilingExceeded, GuildColumn
from bot.errors import UserError
from bot.i18n import DEFAULT_LOCALE, msg, nmsg, t
from bot.jobs.admission import standing
from bot.rules.costs import RuleError, format_money, parse_money
from bot.rules.policy import server_budget
from bot.ui import admin_text
from bot.ui.admin_text import credits

log = logging.getLogger(__name__)


class AdminService:
    """The actions of `/video-admin` in one server, on behalf of ``actor_id``.

    Nothing a server sets may pass the operator's ceilings (``SERVER_MAX_*``),
    whoever sets it (bot owners included: they change the environment
    instead); :mod:`bot.rules.policy` holds stored values to them again when
    they are used.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def member_limit(
        self,
        guild_id: int,
        actor_id: int,
        member_id: int,
        limit: int | None,
        roles: Sequence[int],
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Set or remove a member's own daily limit; shows what now applies."""
        self._check_limit(limit)
        await self.store.set_member_limit(guild_id, member_id, limit, actor_id=actor_id)
        now = await self.member_info(guild_id, member_id, roles, locale=locale)
        if limit is None:
            done = t(locale, "Removed the member's own limit.")
        else:
            done = t(locale, "Limit set.")
        return f"{done}\n{now}"

    async def extra_credits(
        self,
        guild_id: int,
        actor_id: int,
        member_id: int,
        delta: int,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Grant (positive) or remove (negative) extra credits."""
        if delta == 0:
            raise UserError(msg("Give a number of credits to add (or, with a minus sign, remove)."))
        ceiling = self.settings.server_max_extra_credits
        try:
            balance = await self.store.add_extra_credits(
                guild_id, member_id, delta, actor_id=actor_id, max_balance=ceiling
            )
        except CeilingExceeded as exc:
            raise UserError(
                admin_text.extra_ceiling_text(member_id, exc.balance, exc.ceiling)
            ) from None
        values = {"credits": credits(abs(delta), locale), "member": f"<@{member_id}>"}
        if delta > 0:
            return t(
                locale,
                "Added {credits} for {member}; they now have **{balance}** extra credits "
                "(used once their daily credits run out).",
                balance=balance,
                **values,
            )
        return t(
            locale,
            "Removed {credits} for {member}; they now have **{balance}** extra credits "
            "(used once their daily credits run out).",
            balance=balance,
            **values,
        )

    async def reset(
        self, guild_id: int, actor_id: int, member_id: int, *, locale: str = DEFAULT_LOCALE
    ) -> str:
        """Forgive the credits the member used today on videos made in this server."""
        forgiven = await self.store.reset_usage(guild_id, member_id, actor_id=actor_id)
        member = f"<@{member_id}>"
        if not forgiven:
            return t(
                locale, "{member} has no credits used in this server to reset today.", member=member
            )
        return t(
            locale,
            "Reset: {member} got back {credits} for today (used on videos made in this server).",
            member=member,
            credits=credits(forgiven, locale),
        )

    async def block(
        self,
        guild_id: int,
        actor_id: int,
        member_id: int,
        blocked: bool,
        reason: str | None,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Block or unblock a member."""
        changed = await self.store.set_blocked(
            guild_id, member_id, blocked, actor_id=actor_id, reason=reason
        )
        member = f"<@{member_id}>"
        if blocked and changed:
            return t(
                locale, "{member} is now blocked from making videos in this server.", member=member
            )
        if blocked:
            return t(
                locale,
                "{member} was already blocked from making videos in this server.",
                member=member,
            )
        if changed:
            return t(locale, "{member} can make videos again.", member=member)
        return t(locale, "{member} was not blocked.", member=member)

    async def server_limit(
        self, guild_id: int, actor_id: int, limit: int | None, *, locale: str = DEFAULT_LOCALE
    ) -> str:
        """Set or clear the server's default daily limit."""
        self._check_limit(limit)
        await self.store.set_guild_value(guild_id, "daily_limit", limit, actor_id=actor_id)
        if limit is None:
            return t(
                locale,
                "Server default removed: members get {credits} a day.",
                credits=credits(self.settings.quota_per_day, locale),
            )
        return t(
            locale,
            "Server default set: members get {credits} a day "
            "(unless a role's or their own limit applies).",
            credits=credits(limit, locale),
        )

    async def role_limit(
        self,
        guild_id: int,
        actor_id: int,
        role_id: int,
        limit: int | None,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Set or clear a role's daily limit."""
        self._check_limit(limit)
        await self.store.set_role_limit(guild_id, role_id, limit, actor_id=actor_id)
        role = f"<@&{role_id}>"
        if limit is None:
            return t(locale, "Removed the daily limit of {role}.", role=role)
        return t(
            locale,
            "Members with {role} get {credits} a day "
            "(the most generous of a member's roles wins; a member's own limit wins over roles).",
            role=role,
            credits=credits(limit, locale),
        )

    async def channels(
        self,
        guild_id: int,
        actor_id: int,
        action: Literal["add", "remove", "clear", "list"],
        channel_id: int | None = None,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Change or show where `/video` may be used."""
        if action == "list":
            return admin_text.channels_text(await self.store.video_channels(guild_id), locale)
        allowed = await self.store.change_channels(guild_id, action, channel_id, actor_id=actor_id)
        return admin_text.channels_text(allowed, locale)

    async def budget(
        self,
        guild_id: int,
        actor_id: int,
        credit_cap: int | None,
        money: str | None,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Set the server's daily caps (credits and/or money); at least one must be given."""
        if credit_cap is None and money is None:
            raise UserError(
                msg("Give a cap in credits, in money, or both (or use `budget clear`).")
            )
        micros = None
        if money is not None:
            try:
                micros = parse_money(money, "money")
            except RuleError:
                raise UserError(
                    msg("`{amount}` is not an amount like 20 or 7.50.", amount=money[:20])
                ) from None
        self._check_budget(credit_cap, micros)
        if credit_cap is not None:
            await self.store.set_guild_value(
                guild_id, "budget_credits", credit_cap, actor_id=actor_id
            )
        if micros is not None:
            await self.store.set_guild_value(guild_id, "budget_micros", micros, actor_id=actor_id)
        return await self.budget_text(guild_id, t(locale, "Budget set."), locale=locale)

    def _check_limit(self, limit: int | None) -> None:
        ceiling = self.settings.daily_limit_ceiling
        if limit is not None and limit > ceiling:
            raise UserError(admin_text.limit_ceiling_text(ceiling))

    def _check_budget(self, credit_cap: int | None, micros: int | None) -> None:
        """Both caps are checked before either is written: a refusal changes nothing."""
        settings = self.settings
        most = settings.budget_credits_ceiling
        if credit_cap is not None and most is not None and credit_cap > most:
            raise UserError(
                admin_text.budget_ceiling_text(
                    nmsg("{n} credit", "{n} credits", most), "SERVER_MAX_BUDGET_CREDITS"
                )
            )
        most = settings.budget_micros_ceiling
        if micros is not None and most is not None and micros > most:
            shown = format_money(most, settings.currency)
            raise UserError(admin_text.budget_ceiling_text(shown, "SERVER_MAX_BUDGET_MONEY"))

    async def clear_budget(
        self, guild_id: int, actor_id: int, *, locale: str = DEFAULT_LOCALE
    ) -> str:
        """Back to the settings' default caps for servers."""
        columns: tuple[GuildColumn, ...] = ("budget_credits", "budget_micros")
        for column in columns:
            await self.store.set_guild_value(guild_id, column, None, actor_id=actor_id)
        done = t(locale, "Server budget removed (the bot's default applies).")
        return await self.budget_text(guild_id, done, locale=locale)

    async def budget_text(self, guild_id: int, done: str, *, locale: str = DEFAULT_LOCALE) -> str:
        """The server's daily caps in force and today's spend (after ``done``, if any)."""
        guild = await self.store.guild_settings(guild_id)
        cap_credits, cap_micros = server_budget(self.settings.limits, guild)
        spend = await self.store.spend(guild_id)
        caps = admin_text.cap_text(
            "", spend, cap_credits, cap_micros, self.settings.currency, locale
        )
        today = t(locale, "This server today: {caps}.", caps=caps.strip())
        return f"{done} {today}".strip()

    async def member_info(
        self,
        guild_id: int,
        member_id: int,
        roles: Sequence[int],
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """A member's limit, usage, extra credits and block."""
        found = await standing(
            self.store, self.settings, user_id=member_id, guild_id=guild_id, role_ids=roles
        )
        return admin_text.standing_text(member_id, found, locale)

    async def stats(
        self,
        guild_id: int | None,
        *,
        now: datetime | None = None,
        scope: str | None = None,
        locale: str = DEFAULT_LOCALE,
    ) -> str:
        """Jobs, success, spend and render time for one server (``None``: the whole bot)."""
        stats = await self.store.stats(guild_id, now=now)
        settings = self.settings
        budgets: list[tuple[str, Spend, int | None, int | None]] = []
        if guild_id is not None:
            caps = server_budget(settings.limits, await self.store.guild_settings(guild_id))
            if caps != (None, None):
                budgets.append(("server", await self.store.spend(guild_id, now=now), *caps))
        if settings.budget_daily_credits is not None or settings.budget_daily_micros is not None:
            spend = await self.store.spend(None, now=now)
            budgets.append(
                ("bot", spend, settings.budget_daily_credits, settings.budget_daily_micros)
            )
        if scope is None:
            scope = t(locale, "this server") if guild_id is not None else t(locale, "every server")
        return admin_text.stats_text(
            stats, scope=scope, currency=settings.currency, budgets=budgets, locale=locale
        )

    async def audit(self, guild_id: int, count: int, *, locale: str = DEFAULT_LOCALE) -> str:
        """The newest admin actions of the server."""
        return admin_text.audit_text(await self.store.audit_log(guild_id, count), locale)
