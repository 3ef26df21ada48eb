"""A bot process dies mid-job (SIGKILL): another process finishes the job, once.

Two real ``python -m bot`` processes, shard clusters 0 and 1 of 2, share one
database (a SQLite file, or a PostgreSQL server) with ``JOB_LEASE_SECONDS=5``.
The member's guild is on shard 0, so its process accepts and runs the job; it
is killed with SIGKILL while the provider renders. The other process claims
the job when its lease expires and resumes it from the provider's task id: the
member gets their video in the same message, the provider saw one submission,
and one credit was used.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import Store
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.e2e.test_shards import cluster_env, session, video_in
from tests.support.fake_discord import FakeDiscord, FakeGuild, FakeInteraction
from tests.support.harness import KEY, percents
from tests.support.postgres import fresh_database

LEASE = "5"


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Where the processes' shared database is: a SQLite file, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield str(tmp_path / "data" / "bot.sqlite3")
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield url


async def start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """``python -m bot`` with ``env``; its stderr is kept for the failure message."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> str:
    """Signal ``proc`` and return its stderr once it has exited."""
    if proc.returncode is None:
        proc.send_signal(sig)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    return err.decode()


def cluster_envs(
    fake: FakeDiscord, provider_url: str, tmp_path: Path, location: str
) -> list[dict[str, str]]:
    """The environments of shard clusters 0 and 1 of 2 on the database at ``location``."""
    envs = []
    for shard in ("0", "1"):
        env = cluster_env(fake, provider_url, tmp_path / "unused.sqlite3", shard, 2)
        env.update(JOB_LEASE_SECONDS=LEASE, RECONCILE_INTERVAL="1")
        env.pop("DATABASE_PATH")
        env["DATABASE_URL" if "://" in location else "DATABASE_PATH"] = location
        envs.append(env)
    return envs


async def rendering_on_shard_zero(fake: FakeDiscord, zero: FakeGuild) -> FakeInteraction:
    """Once both clusters are up, the member's `/video` in ``zero``, rendering at the provider."""
    await fake.wait_for(lambda: session(fake, (0, 2)) and session(fake, (1, 2)), timeout=60)
    await fake.wait_for(lambda: "video" in fake.commands.names(zero.id), timeout=60)
    ix = await video_in(fake, zero, fake.user, "the lighthouse turns")
    # Sent to the provider and rendering, with its progress on the member's message.
    await fake.wait_for(lambda: any(p > 0 for p in percents(ix)), timeout=60)
    return ix


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_sigkill_of_the_holder_still_delivers_with_one_submission_and_one_credit(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    scenario = Scenario(api_key=KEY, steps=40, step_delay=0.25)  # renders ~10 s
    async with (
        database(kind, tmp_path, request) as location,
        FakeProvider("generations", scenario) as provider,
        FakeDiscord() as fake,
    ):
        zero = fake.add_guild("Shard Zero", shard=(0, 2))
        zero.members.append(fake.user)
        envs = cluster_envs(fake, provider.url, tmp_path, location)
        holder = await start(envs[0], tmp_path)
        other = await start(envs[1], tmp_path)
        logs = ""
        try:
            ix = await rendering_on_shard_zero(fake, zero)
            assert provider.recorder.submissions == 1
            logs += await stop(holder, signal.SIGKILL)
            assert holder.returncode == -signal.SIGKILL
            # The other cluster claims it when the lease expires and posts the video.
            await fake.wait_for(lambda: ix.content is not None and "✅" in ix.content, timeout=60)
        finally:
            logs += await stop(holder, signal.SIGKILL)
            logs += await stop(other)
        assert other.returncode == 0, logs[-3000:]
        assert ix.original is not None and len(ix.original.attachments) == 1
        assert provider.recorder.submissions == 1  # resumed from its task id, never resent
        async with Store.open(location) as store:
            [job] = await store.recent_jobs(fake.user.id)
            assert job.status == "completed"
            usage = await store.usage(fake.user.id, 3)
            assert usage.used == 1  # one credit, taken once
        assert "claimed 1 job(s) whose lease expired" in logs
        assert fake.token not in logs and KEY not in logs
