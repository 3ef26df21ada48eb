"""``AdminService`` against a real SQLite store and real settings.

Each action is checked three ways: the answer the admin reads, the state the
store now holds, and the audit row (who did what, on whom) written with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.admin.service import AdminService
from bot.config import ProviderSettings, Settings
from bot.db import Job, Store
from bot.errors import UserError
from bot.rules.access import may_manage

GUILD = 10
OTHER_GUILD = 11
CHANNEL = 20
MEMBER = 100
OTHER = 101
ADMIN = 500
MOD = 501
ROLE = 900
NOON = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def make_settings(**overrides: Any) -> Settings:
    """The bot's settings as these tests use them: 3 credits a day, one bot owner.

    The ceilings are generous here (10 credits a day, 10 extra credits) so that
    each action is tested on its own; ``test_ceilings.py`` tests the ceilings.
    """
    provider = ProviderSettings(
        protocol="generations", base_url="http://127.0.0.1:9", api_key="sk-unused"
    )
    base = Settings(
        discord_token="t",
        provider=provider,
        quota_per_day=3,
        owner_ids=(ADMIN,),
        server_max_daily_limit=10,
        server_max_extra_credits=10,
    )
    return replace(base, **overrides)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, migrated database file."""
    async with Store.open(tmp_path / "bot.sqlite3") as opened:
        yield opened


@pytest.fixture
def service(store: Store) -> AdminService:
    """The service with default settings."""
    return AdminService(store, make_settings())


async def audit_rows(store: Store, guild_id: int = GUILD) -> list[tuple[Any, ...]]:
    """``(actor, action, target, details)`` of the server's audit log, oldest first."""
    entries = await store.audit_log(guild_id, 100)
    return [(e.actor_id, e.action, e.target_id, dict(e.details)) for e in reversed(entries)]


async def reserve(
    store: Store,
    *,
    user_id: int = MEMBER,
    guild_id: int = GUILD,
    cost: int = 1,
    now: datetime | None = None,
) -> Job:
    """A job of ``user_id`` holding ``cost`` credits."""
    return await store.reserve(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=CHANNEL,
        prompt="a kite rises",
        options={"model": "sora-2"},
        image_url=None,
        protocol="generations",
        cost=cost,
        daily_limit=10,
        max_running=10,
        now=now,
    )


async def test_member_limit_is_set_then_cleared_back_to_the_role_limit(
    store: Store, service: AdminService
) -> None:
    await service.role_limit(GUILD, MOD, ROLE, 5)

    text = await service.member_limit(GUILD, ADMIN, MEMBER, 1, [ROLE])

    assert text.startswith("Limit set.\n")
    assert f"**<@{MEMBER}>**: daily limit **1** (set for this member)." in text
    assert (await store.member_settings(GUILD, MEMBER)).daily_limit == 1

    text = await service.member_limit(GUILD, MOD, MEMBER, None, [ROLE])

    assert text.startswith("Removed the member's own limit.\n")
    assert f"daily limit **5** (from the role <@&{ROLE}>)" in text
    assert (await store.member_settings(GUILD, MEMBER)).daily_limit is None
    assert (await audit_rows(store))[1:] == [
        (ADMIN, "member limit", MEMBER, {"limit": 1}),
        (MOD, "member limit", MEMBER, {"limit": None}),
    ]


async def test_extra_credits_are_added_and_taken_never_below_zero(
    store: Store, service: AdminService
) -> None:
    added = await service.extra_credits(GUILD, ADMIN, MEMBER, 3)
    assert added == (
        f"Added 3 credits for <@{MEMBER}>; they now have **3** extra credits "
        "(used once their daily credits run out)."
    )
    taken = await service.extra_credits(GUILD, MOD, MEMBER, -5)
    assert taken.startswith(f"Removed 5 credits for <@{MEMBER}>; they now have **0** extra")
    assert (await store.member_settings(GUILD, MEMBER)).extra_credits == 0
    one = await service.extra_credits(GUILD, ADMIN, MEMBER, 1)
    assert one.startswith(f"Added 1 credit for <@{MEMBER}>; they now have **1** extra")

    assert await audit_rows(store) == [
        (ADMIN, "extra credits", MEMBER, {"delta": 3, "balance": 3}),
        (MOD, "extra credits", MEMBER, {"delta": -5, "balance": 0}),
        (ADMIN, "extra credits", MEMBER, {"delta": 1, "balance": 1}),
    ]


async def test_zero_extra_credits_is_refused_and_records_nothing(
    store: Store, service: AdminService
) -> None:
    with pytest.raises(UserError, match="number of credits"):
        await service.extra_credits(GUILD, ADMIN, MEMBER, 0)
    assert await audit_rows(store) == []
    assert (await store.member_settings(GUILD, MEMBER)).extra_credits == 0


async def test_reset_forgives_todays_used_credits_but_not_those_still_held(
    store: Store, service: AdminService
) -> None:
    nothing = await service.reset(GUILD, ADMIN, MEMBER)
    assert nothing == f"<@{MEMBER}> has no credits used in this server to reset today."

    done = await reserve(store, cost=2)
    assert await store.settle(done.id, "completed")
    await reserve(store, cost=1)  # still running: its credit stays counted
    assert (await store.usage(MEMBER, 3)).used == 3

    text = await service.reset(GUILD, MOD, MEMBER)

    assert text == (
        f"Reset: <@{MEMBER}> got back 2 credits for today (used on videos made in this server)."
    )
    assert (await store.usage(MEMBER, 3)).used == 1
    rows = await audit_rows(store)
    assert [(actor, action, target, d["forgiven"]) for actor, action, target, d in rows] == [
        (ADMIN, "reset usage", MEMBER, 0),
        (MOD, "reset usage", MEMBER, 2),
    ]


async def test_block_and_unblock_with_reason_say_whether_anything_changed(
    store: Store, service: AdminService
) -> None:
    blocked = await service.block(GUILD, ADMIN, MEMBER, True, "spam")
    assert blocked == f"<@{MEMBER}> is now blocked from making videos in this server."
    settings = await store.member_settings(GUILD, MEMBER)
    assert (settings.blocked, settings.block_reason) == (True, "spam")
    again = await service.block(GUILD, MOD, MEMBER, True, None)
    assert again == f"<@{MEMBER}> was already blocked from making videos in this server."
    assert "⛔ Blocked" in await service.member_info(GUILD, MEMBER, [])

    assert await service.block(GUILD, ADMIN, MEMBER, False, None) == (
        f"<@{MEMBER}> can make videos again."
    )
    settings = await store.member_settings(GUILD, MEMBER)
    assert (settings.blocked, settings.block_reason) == (False, None)
    assert await service.block(GUILD, ADMIN, MEMBER, False, None) == f"<@{MEMBER}> was not blocked."
    assert "Blocked" not in await service.member_info(GUILD, MEMBER, [])

    assert await audit_rows(store) == [
        (ADMIN, "block", MEMBER, {"reason": "spam", "changed": True}),
        (MOD, "block", MEMBER, {"reason": None, "changed": False}),
        (ADMIN, "unblock", MEMBER, {"reason": None, "changed": True}),
        (ADMIN, "unblock", MEMBER, {"reason": None, "changed": False}),
    ]


async def test_server_limit_is_set_and_cleared(store: Store, service: AdminService) -> None:
    text = await service.server_limit(GUILD, ADMIN, 10)
    assert text == (
        "Server default set: members get 10 credits a day "
        "(unless a role's or their own limit applies)."
    )
    assert (await store.guild_settings(GUILD)).daily_limit == 10
    assert "daily limit **10** (this server's default)" in await service.member_info(
        GUILD, MEMBER, []
    )

    text = await service.server_limit(GUILD, MOD, None)
    assert text == "Server default removed: members get 3 credits a day."
    assert (await store.guild_settings(GUILD)).daily_limit is None
    assert await audit_rows(store) == [
        (ADMIN, "set daily_limit", None, {"value": 10}),
        (MOD, "set daily_limit", None, {"value": None}),
    ]
    assert await audit_rows(store, OTHER_GUILD) == []


async def test_role_limit_is_set_and_cleared(store: Store, service: AdminService) -> None:
    text = await service.role_limit(GUILD, ADMIN, ROLE, 4)
    assert text.startswith(f"Members with <@&{ROLE}> get 4 credits a day")
    assert await store.role_limits(GUILD) == {ROLE: 4}

    assert await service.role_limit(GUILD, MOD, ROLE, None) == (
        f"Removed the daily limit of <@&{ROLE}>."
    )
    assert await store.role_limits(GUILD) == {}
    assert await audit_rows(store) == [
        (ADMIN, "role limit", ROLE, {"limit": 4}),
        (MOD, "role limit", ROLE, {"limit": None}),
    ]


async def test_channels_are_added_removed_listed_and_cleared(
    store: Store, service: AdminService
) -> None:
    everywhere = "`/video` is allowed in every channel of this server."
    assert await service.channels(GUILD, ADMIN, "list") == everywhere

    await service.channels(GUILD, ADMIN, "add", 31)
    both = await service.channels(GUILD, MOD, "add", 32)
    assert both == "`/video` is allowed only in: <#31>, <#32>"
    assert await service.channels(GUILD, ADMIN, "remove", 31) == (
        "`/video` is allowed only in: <#32>"
    )
    assert await service.channels(GUILD, MOD, "list") == "`/video` is allowed only in: <#32>"
    assert await store.video_channels(GUILD) == (32,)
    assert await service.channels(GUILD, ADMIN, "clear") == everywhere
    assert await store.video_channels(GUILD) == ()

    # Listing changes nothing, so it leaves no audit row.
    assert await audit_rows(store) == [
        (ADMIN, "channel add", 31, {}),
        (MOD, "channel add", 32, {}),
        (ADMIN, "channel remove", 31, {}),
        (ADMIN, "channel clear", None, {}),
    ]


async def test_budget_is_set_shown_and_cleared_back_to_the_default(store: Store) -> None:
    service = AdminService(store, make_settings(budget_server_daily_credits=50))
    assert await service.budget_text(GUILD, "") == "This server today: 0/50 credits."

    text = await service.budget(GUILD, ADMIN, 20, "7.50")

    assert text == "Budget set. This server today: 0/20 credits and 0.00 USD of 7.50 USD."
    guild = await store.guild_settings(GUILD)
    assert (guild.budget_credits, guild.budget_micros) == (20, 7_500_000)
    await reserve(store, cost=2)
    assert await service.budget_text(GUILD, "") == (
        "This server today: 2/20 credits and 0.00 USD of 7.50 USD."
    )

    cleared = await service.clear_budget(GUILD, MOD)

    assert cleared == (
        "Server budget removed (the bot's default applies). This server today: 2/50 credits."
    )
    guild = await store.guild_settings(GUILD)
    assert (guild.budget_credits, guild.budget_micros) == (None, None)
    assert await audit_rows(store) == [
        (ADMIN, "set budget_credits", None, {"value": 20}),
        (ADMIN, "set budget_micros", None, {"value": 7_500_000}),
        (MOD, "set budget_credits", None, {"value": None}),
        (MOD, "set budget_micros", None, {"value": None}),
    ]


async def test_budget_with_money_only_keeps_the_credit_cap(
    store: Store, service: AdminService
) -> None:
    await service.budget(GUILD, ADMIN, 20, None)
    text = await service.budget(GUILD, ADMIN, None, "5")
    assert text == "Budget set. This server today: 0/20 credits and 0.00 USD of 5.00 USD."
    assert [row[1] for row in await audit_rows(store)] == [
        "set budget_credits",
        "set budget_micros",
    ]


@pytest.mark.parametrize(
    ("credit_cap", "money", "complaint"),
    [
        (None, None, "Give a cap in credits, in money, or both"),
        (20, "lots", "`lots` is not an amount like 20 or 7.50."),
        (None, "-3", "is not an amount"),
    ],
)
async def test_bad_budget_is_refused_and_changes_nothing(
    store: Store, service: AdminService, credit_cap: int | None, money: str | None, complaint: str
) -> None:
    with pytest.raises(UserError) as refused:
        await service.budget(GUILD, ADMIN, credit_cap, money)
    assert complaint in str(refused.value)
    guild = await store.guild_settings(GUILD)
    assert (guild.budget_credits, guild.budget_micros) == (None, None)
    assert await audit_rows(store) == []


async def test_stats_count_a_servers_jobs_and_the_whole_bots(store: Store) -> None:
    settings = make_settings(budget_daily_credits=100, budget_server_daily_credits=10)
    service = AdminService(store, settings)
    empty = await service.stats(GUILD, now=NOON)
    assert empty.startswith("📊 **Video stats for this server** (UTC days)")
    assert "**Today:** 0 jobs" in empty and "success n/a" in empty
    assert "no completed videos this month" in empty

    for _ in range(2):
        job = await reserve(store, now=NOON)
        await store.update_job(job.id, status="running", now=NOON)
        assert await store.settle(job.id, "completed", now=NOON + timedelta(seconds=90))
    failed = await reserve(store, user_id=OTHER, now=NOON)
    assert await store.settle(failed.id, "failed", now=NOON)  # never reached the provider
    await reserve(store, guild_id=OTHER_GUILD, user_id=OTHER, now=NOON)  # still queued

    text = await service.stats(GUILD, now=NOON)

    assert "**Today:** 3 jobs · 2 completed, 1 failed, 0 cancelled, 0 in progress" in text
    assert "success 67% · 2 credits" in text
    assert "**Budget today:** server 2/10 credits · bot 3/100 credits" in text
    assert f"**Busiest this month:** <@{MEMBER}> 2 jobs (2 credits), <@{OTHER}> 1 jobs" in text
    assert "1m 30s over 2 videos this month" in text

    whole = await service.stats(None, now=NOON, scope="the whole bot")

    assert whole.startswith("📊 **Video stats for the whole bot**")
    assert "**Today:** 4 jobs · 2 completed, 1 failed, 0 cancelled, 1 in progress" in whole
    assert "**Budget today:** bot 3/100 credits" in whole
    assert "server " not in whole
    assert "**This month:** 4 jobs" in whole


async def test_audit_shows_the_newest_actions_of_the_server_only(
    store: Store, service: AdminService
) -> None:
    assert await service.audit(GUILD, 10) == "No admin actions recorded in this server yet."
    await service.block(GUILD, ADMIN, MEMBER, True, "spam")
    await service.role_limit(GUILD, MOD, ROLE, 2)
    await service.server_limit(GUILD, ADMIN, 7)
    await service.server_limit(OTHER_GUILD, MOD, 1)

    text = await service.audit(GUILD, 2)

    lines = text.splitlines()
    assert lines[0] == "🗒️ **Recent admin actions** (newest first)"
    assert len(lines) == 3
    assert lines[1].endswith(f"<@{ADMIN}> **set daily_limit** (value=7)")
    assert lines[2].endswith(f"<@{MOD}> **role limit** → {ROLE} (limit=2)")
    assert lines[1].startswith("<t:") and lines[1].split(":f>")[0][3:].isdigit()
    everything = await service.audit(GUILD, 10)
    assert f"<@{ADMIN}> **block** → {MEMBER} (changed=True, reason=spam)" in everything
    assert "value=1" not in everything  # the other server's action


def test_bot_owners_may_administer_everywhere_managers_in_their_server_nobody_else() -> None:
    owners = make_settings().owner_ids
    manager = discord.Permissions(manage_guild=True)
    everything_else = discord.Permissions.all()
    everything_else.manage_guild = False

    assert may_manage(owners, ADMIN, None)  # outside a server too
    assert may_manage(owners, ADMIN, discord.Permissions.none())
    assert may_manage(owners, MOD, manager)
    assert may_manage(owners, MOD, discord.Permissions.all())
    assert not may_manage(owners, MEMBER, everything_else)
    assert not may_manage(owners, MEMBER, discord.Permissions.none())
    assert not may_manage(owners, MEMBER, None)
    assert not may_manage((), ADMIN, None)
