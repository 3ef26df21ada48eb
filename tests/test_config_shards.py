"""SHARD_COUNT and SHARD_IDS: validation naming the variable, and the split global edit budget."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, EditBudget, Settings

BASE = {
    "DISCORD_TOKEN": "discord-token",
    "PROVIDER_PROTOCOL": "videos",
    "PROVIDER_BASE_URL": "https://api.example.com",
    "PROVIDER_API_KEY": "sk-secret-123456",
}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def test_unset_is_automatic_sharding_with_the_whole_budget() -> None:
    s = settings()
    assert (s.shard_count, s.shard_ids, s.syncs_commands) == (None, None, True)
    assert s.edit_budget == EditBudget()


def test_a_cluster_holds_its_shards_and_its_share_of_the_global_budget() -> None:
    s = settings(SHARD_COUNT="4", SHARD_IDS=" 2, 3")
    assert (s.shard_count, s.shard_ids, s.syncs_commands) == (4, (2, 3), False)
    assert (s.edit_budget.global_limit, s.edit_budget.global_period) == (20, 1.0)
    # Only the bot-token (global) budget is split: the others are per token or channel.
    whole = EditBudget()
    assert (s.edit_budget.token_limit, s.edit_budget.channel_limit) == (
        whole.token_limit,
        whole.channel_limit,
    )
    assert s.edit_budget.webhook_limit == whole.webhook_limit
    assert settings(SHARD_COUNT="4", SHARD_IDS="0").syncs_commands


def test_a_count_without_ids_holds_every_shard() -> None:
    s = settings(SHARD_COUNT="3")
    assert (s.shard_count, s.shard_ids, s.syncs_commands) == (3, None, True)
    assert s.edit_budget == EditBudget()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS lists shard 2, but SHARD_COUNT=2"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "1,3,1"}, "SHARD_IDS lists shard 1 twice"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS must be comma-separated shard ids"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "SHARD_IDS must be comma-separated"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be at least 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT must be a whole number"),
    ],
)
def test_bad_shard_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**env)


@pytest.mark.parametrize("total", [1, 2, 3, 7, 16, 64, 100])
def test_the_clusters_shares_never_add_up_past_the_global_budget(total: int) -> None:
    whole = EditBudget()
    rate = whole.global_limit / whole.global_period
    parts = [whole.shared(1, total) for _ in range(total)]
    # Together: no faster than the whole budget, and no bigger a burst.
    assert sum(p.global_limit / p.global_period for p in parts) == pytest.approx(rate)
    assert sum(p.global_limit for p in parts) <= max(whole.global_limit, total)
    for part in parts:
        assert part.global_limit >= 1
    assert whole.shared(total, total) == whole


def test_an_uneven_split_follows_the_share_of_shards() -> None:
    whole = EditBudget()
    three = whole.shared(3, 4)
    one = whole.shared(1, 4)
    assert three.global_limit / three.global_period == pytest.approx(30.0)
    assert one.global_limit / one.global_period == pytest.approx(10.0)
    assert three.global_limit + one.global_limit <= whole.global_limit
