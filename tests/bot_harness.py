"""The real bot (real discord.py, real SQLite) wired to a fake Discord and a fake provider."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from fake_discord import FakeDiscord, FakeInteraction
from fake_discord.harness import running_bot
from PIL import Image

from bot.bot import SoraBot
from bot.config import ProviderSettings, Settings
from bot.db import Store
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.providers.factory import make_provider

KEY = "sk-e2e-provider-key-31337"
PERCENT = re.compile(r"(\d{1,3})%")


def photo_bytes(size: tuple[int, int] = (1600, 1200), fmt: str = "JPEG") -> bytes:
    """A photo that is not the size any provider wants."""
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 140, 90)).save(buf, fmt)
    return buf.getvalue()


def percents(ix: FakeInteraction) -> list[int]:
    """The percents shown by the progress edits, in order."""
    found = []
    for edit in ix.edits:
        match = PERCENT.search(edit.content.splitlines()[-1]) if edit.content else None
        if match and "✅" not in edit.content:
            found.append(int(match.group(1)))
    return found


@dataclass
class App:
    """Everything a test drives or inspects."""

    discord: FakeDiscord
    provider: FakeProvider
    bot: SoraBot
    store: Store

    async def video(self, user: Any = None, **options: Any) -> FakeInteraction:
        """Dispatch `/video` with a photo (unless ``image`` is given) and a prompt."""
        if "image" not in options:
            options["image"] = self.discord.upload(photo_bytes(), "photo.jpg")
        options.setdefault("prompt", "the leaves start to move")
        return await self.discord.slash("video", options, user=user)

    async def finished(self, ix: FakeInteraction, timeout: float = 20) -> str:
        """Wait until the job's message shows its end; returns that content."""
        await self.discord.wait_for(
            lambda: ix.content is not None and ("✅" in ix.content or "❌" in ix.content),
            timeout=timeout,
        )
        assert ix.content is not None
        return ix.content

    async def quota(self, user: Any = None) -> str:
        """The `/quota` answer for ``user``."""
        ix = await self.discord.slash("quota", {}, user=user)
        await self.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None and ix.callback.ephemeral
        return str(ix.callback.data.get("content", ""))


def bot_settings(fake: FakeDiscord, provider: FakeProvider, db: Path, **overrides: Any) -> Settings:
    """Fast settings for tests: tiny poll and edit intervals."""
    protocol = provider.app[_protocol_key()]
    provider_settings = ProviderSettings(
        protocol=protocol,
        base_url=provider.url,
        api_key=KEY,
        poll_interval=0.02,
        poll_max_interval=0.05,
        retry_backoff=0.01,
        max_retries=2,
    )
    settings = Settings(
        discord_token=fake.token,
        provider=provider_settings,
        database_path=str(db),
        progress_interval=0.02,
    )
    return replace(settings, **overrides)


def _protocol_key() -> Any:
    from bot.fake_provider.app import PROTOCOL_KEY

    return PROTOCOL_KEY


@contextlib.asynccontextmanager
async def running_app(
    tmp_path: Path,
    protocol: str = "generations",
    scenario: Scenario | None = None,
    **overrides: Any,
) -> AsyncIterator[App]:
    """Start the fake provider, the fake Discord and the real bot; close all afterwards."""
    scenario = scenario or Scenario(api_key=KEY, steps=4, step_delay=0.05)
    async with (
        FakeProvider(protocol, scenario) as provider,
        FakeDiscord() as fake,
        aiohttp.ClientSession() as session,
        Store.open(tmp_path / "bot.sqlite3") as store,
    ):
        settings = bot_settings(fake, provider, tmp_path / "bot.sqlite3", **overrides)
        bot = SoraBot(
            settings=settings,
            session=session,
            store=store,
            provider=make_provider(session, settings.provider),
            guild_ready_timeout=0.1,
        )
        async with running_bot(bot, fake):
            yield App(fake, provider, bot, store)
        assert not fake.internal_errors
