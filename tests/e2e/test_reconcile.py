"""Nothing stays stuck while the bot runs: the periodic reconciler, and abandoned jobs.

A job whose settlement the database refused longer than the ledger's retries is
settled by the reconciler once the database is back (the member is no longer
shown a video in progress); an unfinished job no run owns is picked up without
a restart; a job abandoned at ``PROVIDER_JOB_TIMEOUT`` is cancelled at the
provider and refunded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.fake_provider.scenario import Scenario
from bot.jobs import ledger
from bot.jobs.request import request_from_job
from tests.e2e.test_faults_db import write_locked
from tests.support.harness import KEY, running_app


async def test_a_settlement_the_database_refused_is_reconciled_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "TRIES", 1)  # the ledger gives up at once: the reconciler's turn
    slow = Scenario(api_key=KEY, steps=8, step_delay=0.08)
    async with running_app(
        tmp_path, "generations", slow, busy_timeout=0.2, reconcile_interval=0.05
    ) as app:
        ix = await app.video()
        await app.discord.wait_for(lambda: len(ix.edits) >= 3)  # submitted, rendering
        gave_up = app.logs.event("left to the reconciler")
        async with write_locked(app.db):
            await asyncio.wait_for(gave_up.wait(), 10)
            content = await app.finished(ix)  # the member is told at once
            assert "✅" in content
            assert len(app.bot.jobs.context.unsettled) == 1
            assert "1 video in progress" in await app.quota()  # still blocks the member
            reconciled = app.logs.event("reconciled as completed")
        await asyncio.wait_for(reconciled.wait(), 10)
        assert len(app.bot.jobs.context.unsettled) == 0
        quota = await app.quota()
        assert "in progress" not in quota and "used **1** of" in quota, quota
        assert "✅" in await app.finished(await app.video())  # no longer blocked
        await app.check_ledger()


async def test_a_stray_unfinished_job_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", reconcile_interval=0.05) as app:
        assert "✅" in await app.finished(await app.video())
        first = await app.store.get_job(app.jobs()[0]["id"])
        assert first is not None
        request = request_from_job(first, app.bot.jobs.provider.capabilities)
        found = app.logs.event("had no run")
        stray = await app.bot.jobs.accept(request)  # reserved and queued, but no run owns it
        done = app.logs.event(f"job {stray.id} completed")
        await asyncio.wait_for(found.wait(), 10)
        await asyncio.wait_for(done.wait(), 20)
        channel = app.discord.channel
        posted = await app.discord.wait_for(
            lambda: [m for m in channel.messages if "✅" in (m.content or "")]
        )
        assert posted  # delivered as a new message in the job's channel
        assert app.provider.recorder.submissions == 2
        assert await app.used() == 2
        await app.check_ledger()


async def test_a_job_abandoned_at_the_timeout_is_cancelled_and_refunded(tmp_path: Path) -> None:
    stuck = Scenario(api_key=KEY, steps=4, step_delay=0.05, never_finish=True)
    async with running_app(tmp_path, "videos", stuck, job_timeout=0.6) as app:
        content = await app.finished(await app.video())
        assert "❌" in content and "took too long" in content, content
        assert len(app.provider.recorder.deleted) == 1  # asked to stop rendering it
        task_id = app.jobs()[0]["provider_task_id"]
        assert app.provider.recorder.deleted == [task_id]
        assert await app.used() == 0
        await app.check_ledger()
