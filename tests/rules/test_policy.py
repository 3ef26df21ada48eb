"""The operator's rules as pure functions, and the settings that feed them."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from bot.config import ConfigError, ProviderSettings, Settings
from bot.db.guild_models import GuildSettings, MemberSettings, PolicySnapshot, SpendCap
from bot.rules.costs import MICROS
from bot.rules.policy import channel_allowed, daily_limit, server_budget, spend_caps

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
    assert spend_caps(settings(), GuildSettings(1)) == ()
    configured = settings(
        budget_daily_credits=100, budget_server_daily_credits=10, budget_server_daily_micros=MICROS
    )
    assert spend_caps(configured, GuildSettings(1)) == (
        SpendCap("bot", 100, None),
        SpendCap("server", 10, MICROS),
    )
    own = GuildSettings(1, budget_credits=4)
    assert server_budget(configured, own) == (4, MICROS)
    assert spend_caps(configured, None) == (SpendCap("bot", 100, None),)


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
    ],
)
def test_bad_operator_settings_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, name: value})
    assert fragment in str(raised.value)
