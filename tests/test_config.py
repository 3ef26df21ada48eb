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
