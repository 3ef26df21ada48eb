"""Many jobs at once through a fake Discord that enforces its rate limits: no 429 at all."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from discord.utils import utcnow as discord_now

from bot.fake_provider.scenario import Scenario
from bot.ui.edits import EditBudget
from tests.support.fake_discord import Bucket
from tests.support.harness import KEY, photo_bytes, running_app


async def test_concurrent_jobs_stay_inside_discords_limits(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=8, step_delay=0.1)  # many progress events per job
    async with running_app(
        tmp_path,
        "generations",
        scenario,
        max_concurrent_jobs=20,
        progress_interval=0.05,  # asks for far more edits than a token's bucket allows
        edit_budget=EditBudget(),  # Discord's budgets, as in production
    ) as app:
        limits = app.discord.rate_limits
        # Hidden buckets: discord.py cannot pace itself, only the scheduler keeps us under.
        limits.webhook_edit = Bucket(limit=5, period=2.0, headers=False)
        limits.global_ = Bucket(limit=50, period=1.0, headers=False)
        users = [app.discord.add_user(f"member{i}") for i in range(15)]
        jobs = await asyncio.gather(*(app.video(user=user) for user in users))
        for ix in jobs:
            assert "✅" in await app.finished(ix, timeout=30)
        assert limits.responses_429 == 0
        assert all(len(ix.edits) >= 2 for ix in jobs)  # progress was shown, then the result
        assert app.bot.jobs.edits.sent >= len(jobs)


async def test_bot_token_edits_share_the_global_and_channel_budgets(tmp_path: Path) -> None:
    """Jobs past the interaction window edit with the bot token: global and channel limits."""
    scenario = Scenario(api_key=KEY, steps=8, step_delay=0.1)
    async with running_app(
        tmp_path,
        "generations",
        scenario,
        max_concurrent_jobs=20,
        progress_interval=0.05,
        edit_budget=EditBudget(),
    ) as app:
        limits = app.discord.rate_limits
        limits.global_ = Bucket(limit=50, period=1.0, headers=False)
        limits.channel_messages = Bucket(limit=30, period=60.0, headers=False)
        old = discord_now() - dt.timedelta(minutes=14)  # the token has under 90 s left
        users = [app.discord.add_user(f"member{i}") for i in range(10)]
        jobs = []
        for user in users:
            image = app.discord.upload(photo_bytes(), "photo.jpg")
            options = {"image": image, "prompt": "the leaves start to move"}
            jobs.append(await app.discord.slash("video", options, user=user, created_at=old))
        for ix in jobs:
            assert "✅" in await app.finished(ix, timeout=30)
        assert limits.responses_429 == 0
        edits = [e for ix in jobs for e in ix.edits]
        assert edits and all(e.via == "bot" for e in edits)  # never the expiring token
