"""Settings: defaults, validation that names the variable, secrets kept out of repr."""

import pytest

from bot.config import ConfigError, ProviderSettings, Settings

BASE = {
    "PROVIDER_PROTOCOL": "videos",
    "PROVIDER_BASE_URL": "https://api.example.com/v1/",
    "PROVIDER_API_KEY": "sk-secret-123456",
}


def test_defaults_and_base_url_normalised() -> None:
    s = ProviderSettings.from_env(BASE)
    assert s.base_url == "https://api.example.com"
    assert (s.model, s.auth_scheme, s.image_fit, s.job_timeout) == (
        "sora-2",
        "bearer",
        "cover",
        1800,
    )
    assert s.auth_header == "Bearer sk-secret-123456"
    assert "sk-secret" not in repr(s)


def test_raw_auth_and_chat_option_auto() -> None:
    s = ProviderSettings.from_env(
        {**BASE, "PROVIDER_AUTH_SCHEME": "raw", "PROVIDER_PROTOCOL": "chat"}
    )
    assert s.auth_header == "sk-secret-123456"
    assert s.chat_options == "prompt"
    aitre = ProviderSettings.from_env(
        {**BASE, "PROVIDER_PROTOCOL": "chat", "PROVIDER_MODEL": "sora_video2"}
    )
    assert aitre.chat_options == "model"


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"PROVIDER_PROTOCOL": ""}, "PROVIDER_PROTOCOL"),
        ({"PROVIDER_PROTOCOL": "sora"}, "PROVIDER_PROTOCOL"),
        ({"PROVIDER_BASE_URL": "api.example.com"}, "PROVIDER_BASE_URL"),
        ({"PROVIDER_API_KEY": " "}, "PROVIDER_API_KEY"),
        ({"PROVIDER_AUTH_SCHEME": "basic"}, "PROVIDER_AUTH_SCHEME"),
        ({"PROVIDER_JOB_TIMEOUT": "soon"}, "PROVIDER_JOB_TIMEOUT"),
        ({"IMAGE_FIT": "stretch"}, "IMAGE_FIT"),
        ({"PROVIDER_MAX_RETRIES": "-1"}, "PROVIDER_MAX_RETRIES"),
    ],
)
def test_bad_settings_name_the_variable(overrides: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name) as info:
        ProviderSettings.from_env({**BASE, **overrides})
    assert "sk-secret" not in str(info.value)


def test_bot_settings() -> None:
    env = {
        **BASE,
        "DISCORD_TOKEN": "tok.en.value",
        "DISCORD_GUILD_IDS": "1, 2",
        "QUOTA_PER_DAY": "5",
    }
    s = Settings.from_env(env)
    assert s.guild_ids == (1, 2)
    assert s.quota_per_day == 5
    assert s.database_path.endswith(".sqlite3")
    assert "tok.en.value" not in repr(s)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        Settings.from_env(BASE)
    with pytest.raises(ConfigError, match="DISCORD_GUILD_IDS"):
        Settings.from_env({**env, "DISCORD_GUILD_IDS": "abc"})
    with pytest.raises(ConfigError, match="JOBS_MAX_CONCURRENT"):
        Settings.from_env({**env, "JOBS_MAX_CONCURRENT": "0"})


BOT = {**BASE, "DISCORD_TOKEN": "tok.en.value"}


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"PRICE_PER_SECOND": "sora-2:0.10"}, "'sora-2-pro'"),  # the videos default offer
        ({"PRICE_PER_SECOND": "sora-2:0.1", "PROVIDER_PROTOCOL": "generations"}, "'sora-2-pro'"),
        ({"PRICE_PER_SECOND": "sora-2:0.1", "PROVIDER_MODELS": "sora-2,fast-1"}, "'fast-1'"),
        ({"PRICE_PER_SECOND": "a:1", "PROVIDER_PROTOCOL": "chat", "PROVIDER_MODELS": "a,b"}, "'b'"),
        # openrouter models are priced by the catalogue too: checked once it is read
        # (tests/e2e/test_openrouter_bot.py), an unpriced one is then not offered.
    ],
)
def test_a_price_table_that_leaves_an_offered_model_unpriced_is_refused(
    overrides: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^PRICE_PER_SECOND .*{missing}"):
        Settings.from_env({**BOT, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the default table has a * rule
        {"PRICE_PER_SECOND": "sora-2:0.10, sora-2-pro:0.30"},
        {"PRICE_PER_SECOND": "sora-2:0.10, *:0.50"},
        {"PRICE_PER_SECOND": "a:1", "PROVIDER_PROTOCOL": "chat", "PROVIDER_MODEL": "a"},
        {
            "PRICE_PER_SECOND": "vendor/x:0.2",
            "PROVIDER_PROTOCOL": "openrouter",
            "PROVIDER_MODEL": "vendor/x",
            "PROVIDER_MODELS": "vendor/x",
        },
    ],
)
def test_a_price_table_that_prices_every_offered_model_is_accepted(
    overrides: dict[str, str],
) -> None:
    from bot.config import offered_models

    settings = Settings.from_env({**BOT, **overrides})
    offered = offered_models(settings.provider)
    assert offered
    assert all(settings.price_table.micros(m, 10, False) > 0 for m in offered)


def test_a_model_priced_at_zero_on_purpose_is_accepted() -> None:
    settings = Settings.from_env(
        {**BOT, "PRICE_PER_SECOND": "sora-2:0", "PROVIDER_MODELS": "sora-2"}
    )
    assert settings.price_table.micros("sora-2", 10, False) == 0


def test_the_default_sora_offer_matches_the_providers() -> None:
    from bot.config import SORA_MODELS, offered_models
    from bot.providers import generations, videos

    assert SORA_MODELS == videos.DEFAULT_MODELS == generations.DEFAULT_MODELS
    assert offered_models(ProviderSettings.from_env(BASE)) == SORA_MODELS


def test_database_url_wins_over_the_path_and_stays_out_of_repr() -> None:
    url = "postgresql://sora:s3cret@db:5432/sora"
    env = {**BASE, "DISCORD_TOKEN": "x", "DATABASE_URL": url, "DATABASE_POOL_SIZE": "4"}
    s = Settings.from_env(env)
    assert (s.database_location, s.database_pool_size) == (url, 4)
    assert "s3cret" not in repr(s)
    assert Settings.from_env({**BASE, "DISCORD_TOKEN": "x"}).database_location == s.database_path
    with pytest.raises(ConfigError, match="postgresql://") as refused:
        Settings.from_env({**env, "DATABASE_URL": "mysql://sora:s3cret@db/sora"})
    assert "s3cret" not in str(refused.value)
