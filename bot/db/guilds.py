"""Server and member settings, allowed channels and the audit log.

Every admin change is one transaction that also writes its audit row, so an
action is never applied without a record of who did it (or recorded without
being applied).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from bot.db import operator_queries as oq
from bot.db import queries
from bot.db.base import StoreBase
from bot.db.dialect import member_lock
from bot.db.guild_models import AuditEntry, GuildSettings, MemberSettings, PolicySnapshot
from bot.db.models import from_epoch, quota_day, utc
from bot.db.plan import Op, Plan, Row, all_rows, lock, one, run, scalar

log = logging.getLogger(__name__)

GuildColumn = Literal["daily_limit", "budget_credits", "budget_micros"]


class CeilingExceeded(Exception):
    """An addition would pass the operator's ceiling; nothing was written.

    ``balance`` is the value before the change, ``ceiling`` the most allowed.
    """

    def __init__(self, balance: int, ceiling: int) -> None:
        super().__init__(f"balance {balance} would pass the ceiling of {ceiling}")
        self.balance = balance
        self.ceiling = ceiling


_GUILD_COLUMNS: tuple[GuildColumn, ...] = ("daily_limit", "budget_credits", "budget_micros")


class GuildStore(StoreBase):
    """The operator's settings per server and member; part of :class:`~bot.db.store.Store`."""

    # ------------------------------------------------------------ reads

    async def policy_snapshot(
        self, guild_id: int, user_id: int, role_ids: Sequence[int] = ()
    ) -> PolicySnapshot:
        """The server's and member's settings, the limits of ``role_ids``, allowed channels."""
        roles = tuple(dict.fromkeys(role_ids))

        def plan() -> Plan[PolicySnapshot]:
            guild = _guild(guild_id, (yield one(oq.GUILD_SETTINGS, (guild_id,))))
            member = _member(guild_id, user_id, (yield _member_op(guild_id, user_id)))
            limits: dict[int, int] = {}
            if roles:
                sql = oq.ROLE_LIMITS_OF.format(marks=", ".join("?" for _ in roles))
                limits = {r[0]: r[1] for r in (yield all_rows(sql, (guild_id, *roles)))}
            channels = tuple(r[0] for r in (yield all_rows(oq.CHANNELS, (guild_id,))))
            return PolicySnapshot(guild, member, MappingProxyType(limits), channels)

        return await self._read(plan)

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """A server's own settings (all ``None`` when it changed nothing)."""
        return _guild(guild_id, await self._one(oq.GUILD_SETTINGS, (guild_id,)))

    async def member_settings(self, guild_id: int, user_id: int) -> MemberSettings:
        """A member's settings in a server (defaults when none were set)."""
        row = await self._one(oq.MEMBER_SETTINGS, (guild_id, user_id))
        return _member(guild_id, user_id, row)

    async def role_limits(self, guild_id: int) -> dict[int, int]:
        """Every role limit of a server: role id to daily credits."""
        return {r[0]: r[1] for r in await self._all(oq.ROLE_LIMITS, (guild_id,))}

    async def video_channels(self, guild_id: int) -> tuple[int, ...]:
        """Channels where ``/video`` is allowed in a server; empty means everywhere."""
        return tuple(r[0] for r in await self._all(oq.CHANNELS, (guild_id,)))

    async def audit_log(self, guild_id: int | None, limit: int = 20) -> list[AuditEntry]:
        """The newest admin actions of a server (``None``: actions outside servers)."""
        if guild_id is None:
            rows = await self._all(oq.AUDIT_LOG.format(where="guild_id IS NULL"), (limit,))
        else:
            rows = await self._all(oq.AUDIT_LOG.format(where="guild_id = ?"), (guild_id, limit))
        return [
            AuditEntry(
                id=r["id"],
                guild_id=r["guild_id"],
                actor_id=r["actor_id"],
                action=r["action"],
                target_id=r["target_id"],
                details=MappingProxyType(json.loads(r["details"])),
                created_at=from_epoch(r["created_at"]) or utc(),
            )
            for r in rows
        ]

    # ------------------------------------------------------------ admin writes

    async def set_guild_value(
        self,
        guild_id: int,
        column: GuildColumn,
        value: int | None,
        *,
        actor_id: int,
        now: datetime | None = None,
    ) -> None:
        """Set (or with ``None`` clear) one of a server's settings, audited."""
        if column not in _GUILD_COLUMNS:
            raise ValueError(f"unknown server setting {column!r}")
        if value is not None and value < 0:
            raise ValueError("a server setting must not be negative")
        ts = utc(now).timestamp()

        def plan() -> Plan[None]:
            yield run(oq.UPSERT_GUILD, (guild_id, ts))
            yield run(oq.SET_GUILD_COLUMN.format(column=column), (value, guild_id))
            yield _audit(guild_id, actor_id, f"set {column}", None, {"value": value}, ts)

        await self._write(plan)

    async def set_member_limit(
        self,
        guild_id: int,
        user_id: int,
        limit: int | None,
        *,
        actor_id: int,
        now: datetime | None = None,
    ) -> None:
        """Give a member their own daily limit (``None`` removes it), audited."""
        if limit is not None and limit < 0:
            raise ValueError("a limit must not be negative")
        ts = utc(now).timestamp()

        def plan() -> Plan[None]:
            yield run(oq.UPSERT_MEMBER, (guild_id, user_id, ts))
            yield run(oq.SET_MEMBER_LIMIT, (limit, guild_id, user_id))
            yield _audit(guild_id, actor_id, "member limit", user_id, {"limit": limit}, ts)

        await self._write(plan)

    async def add_extra_credits(
        self,
        guild_id: int,
        user_id: int,
        delta: int,
        *,
        actor_id: int,
        now: datetime | None = None,
        max_balance: int | None = None,
    ) -> int:
        """Add (or, negative, remove) extra credits; never below zero. Returns the balance.

        With ``max_balance``, an addition that would leave the balance above it
        raises :class:`CeilingExceeded` and writes nothing (removals always pass).
        """
        ts = utc(now).timestamp()

        def plan() -> Plan[int]:
            # The member's lock: a reservation spending extra credits waits for us.
            yield lock(member_lock(user_id))
            if max_balance is not None and delta > 0:
                balance = yield scalar(oq.EXTRA_CREDITS, (guild_id, user_id))
                if balance + delta > max_balance:
                    raise CeilingExceeded(balance, max_balance)
            yield run(oq.UPSERT_MEMBER, (guild_id, user_id, ts))
            after = {"delta": delta, "guild": guild_id, "user": user_id}
            balance = yield scalar(oq.ADD_EXTRA, after)
            details = {"delta": delta, "balance": balance}
            yield _audit(guild_id, actor_id, "extra credits", user_id, details, ts)
            return balance

        return await self._write(plan)

    async def set_blocked(
        self,
        guild_id: int,
        user_id: int,
        blocked: bool,
        *,
        actor_id: int,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Block or unblock a member; returns False when nothing changed (still audited)."""
        ts = utc(now).timestamp()
        action = "block" if blocked else "unblock"

        def plan() -> Plan[bool]:
            yield run(oq.UPSERT_MEMBER, (guild_id, user_id, ts))
            params = (int(blocked), reason if blocked else None, guild_id, user_id, int(blocked))
            changed = (yield run(oq.SET_BLOCKED, params)) == 1
            details = {"reason": reason, "changed": changed}
            yield _audit(guild_id, actor_id, action, user_id, details, ts)
            return changed

        return await self._write(plan)

    async def reset_usage(
        self, guild_id: int, user_id: int, *, actor_id: int, now: datetime | None = None
    ) -> int:
        """Forgive the credits the member used today on jobs made in ``guild_id``.

        Returns how many were forgiven. Usage from other servers is never
        touched (a server's managers decide for their own server only), nor
        what an earlier reset there already forgave. Credits still held by
        unfinished jobs stay counted: if such a job fails later, its refund
        brings the count back to zero, not below.
        """
        at = utc(now)
        day, ts = quota_day(at), at.timestamp()
        here = {"user": user_id, "day": day, "guild": guild_id}
        mine = {"user": user_id, "day": day}

        def plan() -> Plan[int]:
            yield lock(member_lock(user_id))
            used = yield scalar(oq.USED_IN_GUILD_ON_DAY, here)
            held = yield scalar(oq.HELD_IN_GUILD_ON_DAY, here)
            before = yield scalar(oq.FORGIVEN_IN_GUILD_ON_DAY, here)
            # Never below what every unfinished job holds, whatever older resets did.
            total = yield scalar(queries.USED_ON_DAY, mine)
            total_held = yield scalar(oq.HELD_ON_DAY, mine)
            forgiven = max(min(used - held - before, total - total_held), 0)
            if forgiven:
                yield run(oq.INSERT_ADJUSTMENT, (user_id, day, -forgiven, guild_id, actor_id, ts))
            details = {"day": day, "forgiven": forgiven}
            yield _audit(guild_id, actor_id, "reset usage", user_id, details, ts)
            return forgiven

        return await self._write(plan)

    async def set_role_limit(
        self,
        guild_id: int,
        role_id: int,
        limit: int | None,
        *,
        actor_id: int,
        now: datetime | None = None,
    ) -> None:
        """Set (``None``: remove) the daily limit of a role, audited."""
        if limit is not None and limit < 0:
            raise ValueError("a limit must not be negative")
        ts = utc(now).timestamp()

        def plan() -> Plan[None]:
            if limit is None:
                yield run(oq.CLEAR_ROLE_LIMIT, (guild_id, role_id))
            else:
                yield run(oq.SET_ROLE_LIMIT, (guild_id, role_id, limit, ts))
            yield _audit(guild_id, actor_id, "role limit", role_id, {"limit": limit}, ts)

        await self._write(plan)

    async def change_channels(
        self,
        guild_id: int,
        action: Literal["add", "remove", "clear"],
        channel_id: int | None = None,
        *,
        actor_id: int,
        now: datetime | None = None,
    ) -> tuple[int, ...]:
        """Allow ``/video`` in one more channel, one fewer, or everywhere again; audited.

        Returns the allowed channels afterwards (empty: every channel).
        """
        ts = utc(now).timestamp()
        if action != "clear" and channel_id is None:
            raise ValueError(f"channel {action} needs a channel id")

        def plan() -> Plan[tuple[int, ...]]:
            if action == "clear":
                yield run(oq.CLEAR_CHANNELS, (guild_id,))
            elif action == "add":
                yield run(oq.ADD_CHANNEL, (guild_id, channel_id, ts))
            else:
                yield run(oq.REMOVE_CHANNEL, (guild_id, channel_id))
            yield _audit(guild_id, actor_id, f"channel {action}", channel_id, {}, ts)
            return tuple(r[0] for r in (yield all_rows(oq.CHANNELS, (guild_id,))))

        return await self._write(plan)

    async def health_write(self, now: datetime | None = None) -> None:
        """Write one small row: proves the database file is writable right now."""
        at = utc(now)
        await self._run(oq.HEALTH_WRITE, (at.isoformat(), at.timestamp()))


def _guild(guild_id: int, row: Row | None) -> GuildSettings:
    if row is None:
        return GuildSettings(guild_id)
    return GuildSettings(guild_id, row[1], row[2], row[3])


def _member_op(guild_id: int, user_id: int) -> Op:
    return one(oq.MEMBER_SETTINGS, (guild_id, user_id))


def _member(guild_id: int, user_id: int, row: Row | None) -> MemberSettings:
    if row is None:
        return MemberSettings(guild_id, user_id)
    return MemberSettings(guild_id, user_id, row[2], row[3], bool(row[4]), row[5])


def _audit(
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_id: int | None,
    details: Mapping[str, Any],
    ts: float,
) -> Op:
    """The op writing one audit row, for the caller's plan (logged now: it commits with it)."""
    log.info("admin %s in guild %s: %s on %s %s", actor_id, guild_id, action, target_id, details)
    return run(
        oq.INSERT_AUDIT,
        (guild_id, actor_id, action, target_id, json.dumps(dict(details), sort_keys=True), ts),
    )
