"""`/video-admin`'s domain: each action with its answer.

Actions go through :class:`~bot.db.store.Store` methods that record an audit
row (who, what, on whom) in the same transaction as the change. Each method
returns the ephemeral answer to show the admin. Who may use them is decided by
:func:`bot.rules.access.may_manage`.
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
from bot.jobs.admission import standing
from bot.rules.costs import RuleError, format_money, parse_money
from bot.rules.policy import credits, server_budget
from bot.ui import admin_text

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
        self, guild_id: int, actor_id: int, member_id: int, limit: int | None, roles: Sequence[int]
    ) -> str:
        """Set or remove a member's own daily limit; shows what now applies."""
        self._check_limit(limit)
        await self.store.set_member_limit(guild_id, member_id, limit, actor_id=actor_id)
        now = await self.member_info(guild_id, member_id, roles)
        done = "Removed the member's own limit." if limit is None else "Limit set."
        return f"{done}\n{now}"

    async def extra_credits(self, guild_id: int, actor_id: int, member_id: int, delta: int) -> str:
        """Grant (positive) or remove (negative) extra credits."""
        if delta == 0:
            raise UserError("Give a number of credits to add (or, with a minus sign, remove).")
        ceiling = self.settings.server_max_extra_credits
        try:
            balance = await self.store.add_extra_credits(
                guild_id, member_id, delta, actor_id=actor_id, max_balance=ceiling
            )
        except CeilingExceeded as exc:
            raise UserError(
                admin_text.extra_ceiling_text(member_id, exc.balance, exc.ceiling)
            ) from None
        verb = "Added" if delta > 0 else "Removed"
        return (
            f"{verb} {credits(abs(delta))} for <@{member_id}>; they now have "
            f"**{balance}** extra credits (used once their daily credits run out)."
        )

    async def reset(self, guild_id: int, actor_id: int, member_id: int) -> str:
        """Forgive the credits the member used today on videos made in this server."""
        forgiven = await self.store.reset_usage(guild_id, member_id, actor_id=actor_id)
        if not forgiven:
            return f"<@{member_id}> has no credits used in this server to reset today."
        return (
            f"Reset: <@{member_id}> got back {credits(forgiven)} for today "
            "(used on videos made in this server)."
        )

    async def block(
        self, guild_id: int, actor_id: int, member_id: int, blocked: bool, reason: str | None
    ) -> str:
        """Block or unblock a member."""
        changed = await self.store.set_blocked(
            guild_id, member_id, blocked, actor_id=actor_id, reason=reason
        )
        if blocked:
            state = "is now blocked" if changed else "was already blocked"
            return f"<@{member_id}> {state} from making videos in this server."
        state = "can make videos again" if changed else "was not blocked"
        return f"<@{member_id}> {state}."

    async def server_limit(self, guild_id: int, actor_id: int, limit: int | None) -> str:
        """Set or clear the server's default daily limit."""
        self._check_limit(limit)
        await self.store.set_guild_value(guild_id, "daily_limit", limit, actor_id=actor_id)
        if limit is None:
            return (
                f"Server default removed: members get {credits(self.settings.quota_per_day)} a day."
            )
        return (
            f"Server default set: members get {credits(limit)} a day "
            "(unless a role's or their own limit applies)."
        )

    async def role_limit(
        self, guild_id: int, actor_id: int, role_id: int, limit: int | None
    ) -> str:
        """Set or clear a role's daily limit."""
        self._check_limit(limit)
        await self.store.set_role_limit(guild_id, role_id, limit, actor_id=actor_id)
        if limit is None:
            return f"Removed the daily limit of <@&{role_id}>."
        return (
            f"Members with <@&{role_id}> get {credits(limit)} a day "
            "(the most generous of a member's roles wins; a member's own limit wins over roles)."
        )

    async def channels(
        self,
        guild_id: int,
        actor_id: int,
        action: Literal["add", "remove", "clear", "list"],
        channel_id: int | None = None,
    ) -> str:
        """Change or show where `/video` may be used."""
        if action == "list":
            return admin_text.channels_text(await self.store.video_channels(guild_id))
        allowed = await self.store.change_channels(guild_id, action, channel_id, actor_id=actor_id)
        return admin_text.channels_text(allowed)

    async def budget(
        self, guild_id: int, actor_id: int, credit_cap: int | None, money: str | None
    ) -> str:
        """Set the server's daily caps (credits and/or money); at least one must be given."""
        if credit_cap is None and money is None:
            raise UserError("Give a cap in credits, in money, or both (or use `budget clear`).")
        micros = None
        if money is not None:
            try:
                micros = parse_money(money, "money")
            except RuleError:
                raise UserError(f"`{money[:20]}` is not an amount like 20 or 7.50.") from None
        self._check_budget(credit_cap, micros)
        if credit_cap is not None:
            await self.store.set_guild_value(
                guild_id, "budget_credits", credit_cap, actor_id=actor_id
            )
        if micros is not None:
            await self.store.set_guild_value(guild_id, "budget_micros", micros, actor_id=actor_id)
        return await self.budget_text(guild_id, "Budget set.")

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
                admin_text.budget_ceiling_text(credits(most), "SERVER_MAX_BUDGET_CREDITS")
            )
        most = settings.budget_micros_ceiling
        if micros is not None and most is not None and micros > most:
            shown = format_money(most, settings.currency)
            raise UserError(admin_text.budget_ceiling_text(shown, "SERVER_MAX_BUDGET_MONEY"))

    async def clear_budget(self, guild_id: int, actor_id: int) -> str:
        """Back to the settings' default caps for servers."""
        columns: tuple[GuildColumn, ...] = ("budget_credits", "budget_micros")
        for column in columns:
            await self.store.set_guild_value(guild_id, column, None, actor_id=actor_id)
        return await self.budget_text(
            guild_id, "Server budget removed (the bot's default applies)."
        )

    async def budget_text(self, guild_id: int, done: str) -> str:
        """The server's daily caps in force and today's spend."""
        guild = await self.store.guild_settings(guild_id)
        cap_credits, cap_micros = server_budget(self.settings, guild)
        spend = await self.store.spend(guild_id)
        caps = admin_text.cap_text("", spend, cap_credits, cap_micros, self.settings.currency)
        return f"{done} This server today:{caps}.".strip()

    async def member_info(self, guild_id: int, member_id: int, roles: Sequence[int]) -> str:
        """A member's limit, usage, extra credits and block."""
        found = await standing(
            self.store, self.settings, user_id=member_id, guild_id=guild_id, role_ids=roles
        )
        return admin_text.standing_text(member_id, found)

    async def stats(
        self, guild_id: int | None, *, now: datetime | None = None, scope: str = "this server"
    ) -> str:
        """Jobs, success, spend and render time for one server (``None``: the whole bot)."""
        stats = await self.store.stats(guild_id, now=now)
        settings = self.settings
        budgets: list[tuple[str, Spend, int | None, int | None]] = []
        if guild_id is not None:
            caps = server_budget(settings, await self.store.guild_settings(guild_id))
            if caps != (None, None):
                budgets.append(("server", await self.store.spend(guild_id, now=now), *caps))
        if settings.budget_daily_credits is not None or settings.budget_daily_micros is not None:
            spend = await self.store.spend(None, now=now)
            budgets.append(
                ("bot", spend, settings.budget_daily_credits, settings.budget_daily_micros)
            )
        return admin_text.stats_text(
            stats, scope=scope, currency=settings.currency, budgets=budgets
        )

    async def audit(self, guild_id: int, count: int) -> str:
        """The newest admin actions of the server."""
        return admin_text.audit_text(await self.store.audit_log(guild_id, count))
