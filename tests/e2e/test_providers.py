"""Several providers and failover, end to end: the real bot, fake Discord, two fake providers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import SoraBot
from bot.db import Store
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.providers.factory import make_providers
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord.harness import running_bot
from tests.support.harness import KEY, App, bot_settings, capturing_logs, leaked_secrets


def fast(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 3, "step_delay": 0.03, **knobs})


@contextlib.asynccontextmanager
async def two_providers(
    tmp_path: Path, primary: Scenario, backup: Scenario
) -> AsyncIterator[tuple[App, FakeProvider, FakeProvider]]:
    """The bot with PROVIDERS=main,backup, both speaking ``generations``."""
    with capturing_logs(logging.DEBUG) as logs:
        async with (
            FakeProvider("generations", primary) as main,
            FakeProvider("generations", backup) as spare,
            FakeDiscord() as fake,
        ):
            settings = bot_settings(fake, main, tmp_path / "bot.sqlite3")
            first = replace(settings.provider, name="main")
            second = replace(first, name="backup", base_url=spare.url)
            settings = replace(settings, provider=first, providers=(first, second))
            async with (
                aiohttp.ClientSession() as session,
                Store.open(settings.database_path) as store,
            ):
                providers = make_providers(session, settings.all_providers)
                bot = SoraBot(
                    settings=settings,
                    session=session,
                    store=store,
                    provider=providers,
                    guild_ready_timeout=0.1,
                )
                async with running_bot(bot, fake):
                    app = App(fake, main, bot, store, Path(settings.database_path), logs)
                    yield app, main, spare
            assert not fake.internal_errors
        assert leaked_secrets(fake, logs, KEY, fake.token) == []


async def test_a_provider_refusing_every_job_hands_it_to_the_backup(tmp_path: Path) -> None:
    async with two_providers(tmp_path, fast(error_forever=503), fast()) as (app, main, spare):
        ix = await app.video()
        content = await app.finished(ix)
        assert "✅" in content
        assert ix.original is not None and len(ix.original.attachments) == 1
        assert main.recorder.submissions == 0 and spare.recorder.submissions == 1
        assert main.recorder.count("POST", "/v2/videos/generations") >= 1  # it was asked
        assert "1** of **3" in await app.quota()  # one credit, not two
        (job,) = app.jobs()
        assert job["provider"] == "backup" and job["status"] == "completed"
        assert any("from provider main to backup" in m for m in app.logs.messages("bot.providers"))
        await app.check_ledger()


async def test_a_job_the_provider_accepted_is_never_sent_elsewhere(tmp_path: Path) -> None:
    async with two_providers(tmp_path, fast(fail_at=50), fast()) as (app, main, spare):
        ix = await app.video()
        content = await app.finished(ix)
        assert "❌" in content and "refunded" in content
        assert main.recorder.submissions == 1 and spare.recorder.submissions == 0
        assert "0** of **3" in await app.quota()
        (job,) = app.jobs()
        assert job["provider"] == "main" and job["status"] == "failed"
        await app.check_ledger()


async def test_healthz_and_metrics_show_each_provider(tmp_path: Path) -> None:
    async with two_providers(tmp_path, fast(error_forever=503), fast()) as (app, _, __):
        for _ in range(3):  # three failures in a row set the main provider aside
            assert "✅" in await app.finished(await app.video(), timeout=30)
        health = app.bot.provider.health()
        assert not health["main"]["ok"] and health["main"]["trips"] == 1
        assert health["backup"]["ok"]
        text = app.bot.metrics.registry
        assert text.get_sample_value("sora_provider_available", {"provider": "main"}) == 0.0
        assert text.get_sample_value("sora_provider_available", {"provider": "backup"}) == 1.0
        assert text.get_sample_value("sora_provider_skipped_total", {"provider": "main"}) == 1.0
