"""Shared pieces of the onboarding tests: a real-looking token and the settings for the fakes."""

from __future__ import annotations

from pathlib import Path

from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.fake_discord import FakeDiscord

# Shaped like a real bot token (id . timestamp . signature), which the wizard insists on.
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.s3cr3t-Signature_abcdefghijklmnopqrstu"
KEY = "sk-onboarding-key-0123456789"
PROTOCOLS = ("chat", "generations", "videos", "openrouter")


def scenario(**knobs: object) -> Scenario:
    """A fake provider that accepts only :data:`KEY`."""
    return Scenario(api_key=KEY, **knobs)  # type: ignore[arg-type]


def settings_env(
    discord: FakeDiscord, provider: FakeProvider, tmp_path: Path, **overrides: str
) -> dict[str, str]:
    """The variables an operator would set, pointed at the fakes."""
    env = {
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE_URL": discord.api_base,
        "PROVIDER_PROTOCOL": provider.protocol,
        "PROVIDER_BASE_URL": provider.url,
        "PROVIDER_API_KEY": KEY,
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "ALLOWED_GUILD_IDS": "123456789012345678",
    }
    env.update(overrides)
    return env
