"""The operator's ceilings (``SERVER_MAX_*``) against `/video-admin`, and reset's scope.

A server's managers (and the bot's owners: they change the environment
instead) can never set a limit, extra credits or a budget above the ceiling:
the refusal names it and nothing is written, not even an audit row. Values
stored before a ceiling was lowered count as the ceiling when used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.admin.service import AdminService
from bot.db import Store
from bot.errors import UserError
from bot.rules.costs import MICROS
from tests.admin.test_service import (
    ADMIN,
    GUILD,
    MEMBER,
    MOD,
    OTHER_GUILD,
    ROLE,
    audit_rows,
    make_settings,
    reserve,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, migrated database file."""
    async with Store.open(tmp_path / "bot.sqlite3") as opened:
        yield opened


def with_default_ceilings(store: Store, **overrides: Any) -> AdminService:
    """The service under the settings' own default ceilings (3 a day, no extra credits)."""
    settings = make_settings(server_max_daily_limit=None, server_max_extra_credits=0)
    return AdminService(store, replace(settings, **overrides))


@pytest.mark.parametrize("actor", [MOD, ADMIN])  # ADMIN is a bot owner: bound too
async def test_limits_above_quota_per_day_are_refused_by_default(store: Store, actor: int) -> None:
    service = with_default_ceilings(store)
    for action in (
        service.member_limit(GUILD, actor, MEMBER, 4, []),
        service.role_limit(GUILD, actor, ROLE, 4),
        service.server_limit(GUILD, actor, 4),
    ):
        with pytest.raises(UserError) as refused:
            await action
        assert "at most 3 credits a day" in str(refused.value)
        assert "`SERVER_MAX_DAILY_LIMIT`" in str(refused.value)
    assert (await store.member_settings(GUILD, MEMBER)).daily_limit is None
    assert await store.role_limits(GUILD) == {}
    assert (await store.guild_settings(GUILD)).daily_limit is None
    assert await audit_rows(store) == []

    # At the ceiling, and below it, is fine.
    assert "Limit set" in await service.member_limit(GUILD, actor, MEMBER, 3, [])
    assert "get 0 credits a day" in await service.role_limit(GUILD, actor, ROLE, 0)
    assert "get 2 credits a day" in await service.server_limit(GUILD, actor, 2)


async def test_a_raised_ceiling_lets_limits_up_to_it(store: Store) -> None:
    service = with_default_ceilings(store, server_max_daily_limit=8)
    assert "get 8 credits a day" in await service.server_limit(GUILD, MOD, 8)
    with pytest.raises(UserError, match="at most 8 credits a day"):
        await service.server_limit(GUILD, MOD, 9)


async def test_extra_credits_are_off_by_default(store: Store) -> None:
    service = with_default_ceilings(store)
    with pytest.raises(
        UserError, match=r"turned extra credits off \(`SERVER_MAX_EXTRA_CREDITS` is 0"
    ):
        await service.extra_credits(GUILD, ADMIN, MEMBER, 1)
    assert (await store.member_settings(GUILD, MEMBER)).extra_credits == 0
    assert await audit_rows(store) == []


async def test_extra_credits_up_to_the_ceiling_and_removals_always(store: Store) -> None:
    service = with_default_ceilings(store, server_max_extra_credits=5)
    assert "now have **3** extra" in await service.extra_credits(GUILD, MOD, MEMBER, 3)
    with pytest.raises(UserError) as refused:
        await service.extra_credits(GUILD, MOD, MEMBER, 3)
    assert f"<@{MEMBER}> has 3, so you can add at most 2" in str(refused.value)
    assert "at most 5 extra credits" in str(refused.value)
    assert "now have **5** extra" in await service.extra_credits(GUILD, MOD, MEMBER, 2)
    # The ceiling is per member and server: another server's balance is its own.
    assert "now have **5** extra" in await service.extra_credits(OTHER_GUILD, MOD, MEMBER, 5)

    # Stored above a ceiling lowered later: additions refused, removals still work.
    lowered = with_default_ceilings(store, server_max_extra_credits=2)
    with pytest.raises(UserError, match="has 5, so you can add at most 0"):
        await lowered.extra_credits(GUILD, MOD, MEMBER, 1)
    assert "now have **1** extra" in await lowered.extra_credits(GUILD, MOD, MEMBER, -4)
    assert [row[3]["balance"] for row in await audit_rows(store)] == [3, 5, 1]


async def test_member_info_shows_a_stored_limit_and_balance_held_to_lowered_ceilings(
    store: Store,
) -> None:
    generous = AdminService(store, make_settings())  # ceilings 10 a day, 10 extra
    await generous.member_limit(GUILD, MOD, MEMBER, 9, [])
    await generous.extra_credits(GUILD, MOD, MEMBER, 7)

    lowered = with_default_ceilings(store, server_max_extra_credits=2)
    info = await lowered.member_info(GUILD, MEMBER, [])

    assert "daily limit **3** (set for this member, capped at the bot's maximum)" in info
    assert "extra credits: **2**" in info
    # Nothing stored changed: raising the ceiling again restores what was set.
    settings = await store.member_settings(GUILD, MEMBER)
    assert (settings.daily_limit, settings.extra_credits) == (9, 7)
    assert "daily limit **9** (set for this member)." in await generous.member_info(
        GUILD, MEMBER, []
    )


async def test_server_budget_above_the_default_cap_is_refused(store: Store) -> None:
    service = with_default_ceilings(
        store, budget_server_daily_credits=50, budget_server_daily_micros=5 * MICROS
    )
    with pytest.raises(UserError) as refused:
        await service.budget(GUILD, MOD, 51, None)
    assert "at most 50 credits (`SERVER_MAX_BUDGET_CREDITS`)" in str(refused.value)
    # Credits within the ceiling but money over it: neither is written.
    with pytest.raises(UserError, match=r"at most 5\.00 USD \(`SERVER_MAX_BUDGET_MONEY`\)"):
        await service.budget(GUILD, MOD, 20, "5.01")
    guild = await store.guild_settings(GUILD)
    assert (guild.budget_credits, guild.budget_micros) == (None, None)
    assert await audit_rows(store) == []

    assert await service.budget(GUILD, ADMIN, 50, "5") == (
        "Budget set. This server today: 0/50 credits and 0.00 USD of 5.00 USD."
    )


async def test_server_budget_without_a_default_cap_has_no_ceiling_unless_set(
    store: Store,
) -> None:
    free = with_default_ceilings(store)
    assert "0/1000 credits" in await free.budget(GUILD, MOD, 1000, None)
    capped = with_default_ceilings(store, server_max_budget_credits=100)
    with pytest.raises(UserError, match="at most 100 credits"):
        await capped.budget(GUILD, MOD, 101, None)
    # The 1000 stored before counts as 100 now.
    assert await capped.budget_text(GUILD, "") == "This server today: 0/100 credits."


async def test_reset_gives_back_only_what_was_used_in_its_own_server(store: Store) -> None:
    service = AdminService(store, make_settings())
    for guild_id in (GUILD, GUILD, OTHER_GUILD):
        job = await reserve(store, guild_id=guild_id)
        assert await store.settle(job.id, "completed")
    await reserve(store, guild_id=OTHER_GUILD)  # still running in the other server
    assert (await store.usage(MEMBER, 10)).used == 4

    text = await service.reset(OTHER_GUILD, MOD, MEMBER)

    assert "got back 1 credit for today (used on videos made in this server)" in text
    assert (await store.usage(MEMBER, 10)).used == 3
    # A second reset there has nothing left to give: the first server's usage is not its own.
    again = await service.reset(OTHER_GUILD, MOD, MEMBER)
    assert again == f"<@{MEMBER}> has no credits used in this server to reset today."
    assert (await store.usage(MEMBER, 10)).used == 3

    assert "got back 2 credits" in await service.reset(GUILD, ADMIN, MEMBER)
    assert (await store.usage(MEMBER, 10)).used == 1  # the running job's credit
    assert [row[3]["forgiven"] for row in await audit_rows(store, OTHER_GUILD)] == [1, 0]
