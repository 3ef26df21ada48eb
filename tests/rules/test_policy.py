"""The operator's rules as pure functions, and the settings that feed them."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from bot.config import ConfigError, ProviderSettings, Settings
from bot.db.guild_models import GuildSettings, MemberSettings, PolicySnapshot, SpendCap
from bot.rules.costs import MICROS
from bot.rules.policy import (
    channel_allowed,
    daily_limit,
    guild_allowed,
    member_limit,
    server_budget,
    spend_caps,
    usable_extra,
)

BASE_ENV = {
    "DISCORD_TOKEN": "t",
    "PROVIDER_PROTOCOL": "videos",
    "PROVIDER_BASE_URL": "https://api.example.com",
    "PROVIDER_API_KEY": "k",
}


def snapshot(
    member: int | None = None, roles: dict[int, int] | None = None, server: int | None = None
) -> PolicySnapshot:
    return PolicySnapshot(
        GuildSettings(1, daily_limit=server),
        MemberSettings(1, 2, daily_limit=member),
        MappingProxyType(roles or {}),
    )


def test_limit_precedence_member_then_roles_then_server_then_bot() -> None:
    assert daily_limit(snapshot(), 3).credits == 3
    assert daily_limit(snapshot(), 3).source == "bot"
    assert daily_limit(snapshot(server=5), 3).credits == 5
    with_roles = daily_limit(snapshot(server=5, roles={10: 2, 11: 8, 12: 4}), 3)
    assert (with_roles.credits, with_roles.source, with_roles.role_id) == (8, "role", 11)
    # A role limit lower than the server's still applies: the roles are the rule for them.
    assert daily_limit(snapshot(server=5, roles={10: 2}), 3).credits == 2
    # The member's own limit wins even when it is lower than their roles'.
    own = daily_limit(snapshot(member=1, server=5, roles={11: 8}), 3)
    assert (own.credits, own.source) == (1, "member")
    assert daily_limit(snapshot(member=0), 3).credits == 0


def test_role_tie_is_stable() -> None:
    assert daily_limit(snapshot(roles={30: 6, 20: 6}), 3).role_id == 20


def settings(**overrides: object) -> Settings:
    provider = ProviderSettings(protocol="videos", base_url="http://x", api_key="k")
    return replace(Settings(discord_token="t", provider=provider), **overrides)  # type: ignore[arg-type]


def test_spend_caps_from_settings_and_server_overrides() -> None:
    assert spend_caps(settings().limits, GuildSettings(1)) == ()
    configured = settings(
        budget_daily_credits=100, budget_server_daily_credits=10, budget_server_daily_micros=MICROS
    )
    assert spend_caps(configured.limits, GuildSettings(1)) == (
        SpendCap("bot", 100, None),
        SpendCap("server", 10, MICROS),
    )
    own = GuildSettings(1, budget_credits=4)
    assert server_budget(configured.limits, own) == (4, MICROS)
    assert spend_caps(configured.limits, None) == (SpendCap("bot", 100, None),)


def test_channel_allowed_with_threads() -> None:
    assert channel_allowed((), 5, None)
    assert channel_allowed((5, 6), 5, None)
    assert not channel_allowed((5, 6), 7, None)
    assert channel_allowed((5,), 99, 5)  # a thread of an allowed channel


def test_operator_settings_are_read_and_validated() -> None:
    env = {
        **BASE_ENV,
        "BOT_OWNER_IDS": "11, 22",
        "COST_TABLE": "sora-2-pro:3, hd:+1",
        "PRICE_PER_SECOND": "sora-2:0.2, sora-2-pro:0.5",  # every model offered is priced
        "PRICE_CURRENCY": "EUR",
        "BUDGET_DAILY_CREDITS": "50",
        "BUDGET_DAILY_MONEY": "12.5",
        "BUDGET_SERVER_DAILY_CREDITS": "20",
        "RESULT_LINK_HOURS": "0.5",
        "HEALTH_PORT": "8080",
        "HEALTH_HOST": "0.0.0.0",
        "LOG_FORMAT": "JSON",
        "BLOCKED_PROMPT_PATTERNS": "gore",
    }
    got = Settings.from_env(env)
    assert got.owner_ids == (11, 22)
    assert got.cost_table.credits("sora-2-pro", 10, True) == 4
    assert got.price_table.micros("sora-2", 10, False) == 2 * MICROS
    assert got.currency == "EUR"
    assert (got.budget_daily_credits, got.budget_daily_micros) == (50, 12_500_000)
    assert (got.budget_server_daily_credits, got.budget_server_daily_micros) == (20, None)
    assert got.result_link_ttl == 1800
    assert (got.health_port, got.health_host, got.log_format) == (8080, "0.0.0.0", "json")
    assert got.prompt_filter.match("so much gore") == 0


def test_operator_settings_defaults() -> None:
    got = Settings.from_env(BASE_ENV)
    assert got.owner_ids == () and got.health_port is None and got.health_host == "127.0.0.1"
    assert got.cost_table.credits("sora-2-pro", 25, True) == 1
    assert got.price_table.micros("sora-2-pro", 10, False) == 3 * MICROS
    assert got.log_format == "text" and got.budget_daily_credits is None
    assert got.result_link_ttl == 3600


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BOT_OWNER_IDS", "12,abc", "BOT_OWNER_IDS must be comma-separated user ids"),
        ("COST_TABLE", "hd:2", "COST_TABLE: "),
        ("PRICE_PER_SECOND", "x", "PRICE_PER_SECOND: "),
        ("BUDGET_DAILY_MONEY", "lots", "BUDGET_DAILY_MONEY must be an amount"),
        ("BUDGET_SERVER_DAILY_CREDITS", "-1", "BUDGET_SERVER_DAILY_CREDITS must be at least 0"),
        ("HEALTH_PORT", "70000", "HEALTH_PORT must be at least 0 and at most 65535"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json"),
        ("BLOCKED_PROMPT_PATTERNS", "/(/", "BLOCKED_PROMPT_PATTERNS: "),
        ("ALLOWED_GUILD_IDS", "1, my-server", "ALLOWED_GUILD_IDS must be comma-separated server"),
        ("DISCORD_GUILD_IDS", "1,x", "DISCORD_GUILD_IDS must be comma-separated server ids"),
        ("SERVER_MAX_DAILY_LIMIT", "-1", "SERVER_MAX_DAILY_LIMIT must be at least 0"),
        ("SERVER_MAX_EXTRA_CREDITS", "many", "SERVER_MAX_EXTRA_CREDITS must be a whole number"),
        ("SERVER_MAX_BUDGET_MONEY", "lots", "SERVER_MAX_BUDGET_MONEY must be an amount"),
    ],
)
def test_bad_operator_settings_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, name: value})
    assert fragment in str(raised.value)


# ---------------------------------------------------------------- allowed servers and ceilings


def test_ceilings_hold_server_level_limits_but_not_the_bots_default() -> None:
    for own in (snapshot(member=9), snapshot(roles={10: 9}), snapshot(server=9)):
        limit = daily_limit(own, 3, ceiling=4)
        assert (limit.credits, limit.capped) == (4, True)
        assert limit.describe().endswith(", capped at the bot's maximum")
    under = daily_limit(snapshot(member=2, server=9), 3, ceiling=4)
    assert (under.credits, under.capped, under.describe()) == (2, False, "set for this member")
    # QUOTA_PER_DAY is the operator's own: a ceiling below it does not touch it.
    assert daily_limit(snapshot(), 5, ceiling=4).credits == 5
    # The capped role keeps its id (shown to admins).
    assert daily_limit(snapshot(roles={10: 9}), 3, ceiling=4).role_id == 10


def test_member_limit_uses_quota_per_day_as_the_default_ceiling() -> None:
    assert member_limit(snapshot(member=50), settings(quota_per_day=3).limits).credits == 3
    raised = settings(quota_per_day=3, server_max_daily_limit=20)
    assert member_limit(snapshot(member=50), raised.limits).credits == 20
    assert member_limit(snapshot(member=0), raised.limits).credits == 0


def test_usable_extra_is_the_balance_held_to_its_ceiling() -> None:
    assert usable_extra(7, settings().limits) == 0  # extra credits are off by default
    assert usable_extra(7, settings(server_max_extra_credits=5).limits) == 5
    assert usable_extra(2, settings(server_max_extra_credits=5).limits) == 2


def test_server_budget_is_held_to_its_ceiling_and_the_default_is_the_ceiling() -> None:
    default_caps = settings(budget_server_daily_credits=10, budget_server_daily_micros=MICROS)
    assert default_caps.budget_credits_ceiling == 10
    assert default_caps.budget_micros_ceiling == MICROS
    over = GuildSettings(1, budget_credits=500, budget_micros=100 * MICROS)
    assert server_budget(default_caps.limits, over) == (10, MICROS)
    assert server_budget(default_caps.limits, GuildSettings(1, budget_credits=4)) == (4, MICROS)
    # Without a default cap a server's own cap stands, unless a ceiling is set.
    assert server_budget(settings().limits, over) == (500, 100 * MICROS)
    ceiling = settings(server_max_budget_credits=50, server_max_budget_micros=2 * MICROS)
    assert server_budget(ceiling.limits, over) == (50, 2 * MICROS)
    assert spend_caps(ceiling.limits, over) == (SpendCap("server", 50, 2 * MICROS),)


def test_guild_allowed() -> None:
    assert guild_allowed((), 5)  # empty: every server
    assert guild_allowed((5, 6), 5)
    assert not guild_allowed((5, 6), 7)
    assert guild_allowed((5,), None)  # outside servers (DMs)


def test_allowed_servers_and_ceilings_are_read_from_the_environment() -> None:
    defaults = Settings.from_env(BASE_ENV)
    assert defaults.allowed_guild_ids == ()
    assert (defaults.daily_limit_ceiling, defaults.server_max_extra_credits) == (3, 0)
    assert (defaults.budget_credits_ceiling, defaults.budget_micros_ceiling) == (None, None)

    got = Settings.from_env(
        {
            **BASE_ENV,
            "QUOTA_PER_DAY": "2",
            "DISCORD_GUILD_IDS": "11",
            "ALLOWED_GUILD_IDS": "11, 12",
            "BUDGET_SERVER_DAILY_CREDITS": "20",
            "BUDGET_SERVER_DAILY_MONEY": "3",
            "SERVER_MAX_DAILY_LIMIT": "6",
            "SERVER_MAX_EXTRA_CREDITS": "4",
            "SERVER_MAX_BUDGET_MONEY": "7.5",
        }
    )
    assert (got.guild_ids, got.allowed_guild_ids) == ((11,), (11, 12))
    assert (got.daily_limit_ceiling, got.server_max_extra_credits) == (6, 4)
    assert (got.budget_credits_ceiling, got.budget_micros_ceiling) == (20, 7_500_000)


def test_command_servers_must_be_allowed_servers() -> None:
    env = {**BASE_ENV, "DISCORD_GUILD_IDS": "11,13", "ALLOWED_GUILD_IDS": "11,12"}
    with pytest.raises(ConfigError, match="DISCORD_GUILD_IDS lists server 13, which is not in"):
        Settings.from_env(env)
