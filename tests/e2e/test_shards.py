"""Shard clusters: bot processes that each connect some shards, on one database.

Discord sends a guild's events only to the shard ``(guild_id >> 22) % shard_count``
(the fake does the same, see ``tests/support/test_fake_discord_shards.py``), so
each cluster must answer the guilds of its shards and only the process that
holds shard 0 may sync the application's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.fake_discord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser
from tests.support.fake_discord.gateway import Session
from tests.support.harness import KEY, percents, photo_bytes, running_world


def cluster_env(
    fake: FakeDiscord, provider_url: str, db: Path, shard_ids: str, shard_count: int
) -> dict[str, str]:
    """The environment of one cluster: the fakes, the shared database, its shards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_", "DISCORD_"))}
    env.update(fake.env())
    env.update(
        PROVIDER_PROTOCOL="generations",
        PROVIDER_BASE_URL=provider_url,
        PROVIDER_API_KEY=KEY,
        PROVIDER_POLL_INTERVAL="0.05",
        DATABASE_PATH=str(db),
        PROGRESS_EDIT_INTERVAL="0.1",
        LOG_LEVEL="info",
        SHARD_COUNT=str(shard_count),
        SHARD_IDS=shard_ids,
    )
    return env


@contextlib.asynccontextmanager
async def cluster(env: dict[str, str], cwd: Path, logs: dict[str, str]) -> AsyncIterator[None]:
    """``python -m bot`` as one cluster; stopped with SIGTERM, its stderr kept in ``logs``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        logs[env["SHARD_IDS"]] = err.decode()
        assert proc.returncode == 0, err.decode()[-2000:]


def session(fake: FakeDiscord, shard: tuple[int, int]) -> Session | None:
    """The live gateway session that identified as ``shard``, if any."""
    return next((s for s in fake.gateway.ready_sessions if s.shard == shard), None)


def received(fake: FakeDiscord, shard: tuple[int, int]) -> set[str]:
    """The ids of the interactions the session of ``shard`` was sent."""
    found = session(fake, shard)
    assert found is not None
    return {d["id"] for d in found.events("INTERACTION_CREATE")}


async def video_in(
    fake: FakeDiscord, guild: FakeGuild, user: FakeUser, prompt: str
) -> FakeInteraction:
    image = fake.upload(photo_bytes((900, 900), "PNG"), "photo.png")
    return await fake.slash("video", {"image": image, "prompt": prompt}, guild=guild, user=user)


async def test_two_clusters_answer_their_own_guilds_and_sync_once(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=3, step_delay=0.05)
    db = tmp_path / "data" / "bot.sqlite3"
    logs: dict[str, str] = {}
    async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
        zero = fake.add_guild("Shard Zero", shard=(0, 2))
        one = fake.add_guild("Shard One", shard=(1, 2))
        bob = fake.add_user("bob")  # JOBS_MAX_PER_USER counts across clusters: two members
        zero.members.append(fake.user)
        one.members.append(bob)
        guild_ids = {g.id for g in fake.guilds}
        async with (
            cluster(cluster_env(fake, provider.url, db, "0", 2), tmp_path, logs),
            cluster(cluster_env(fake, provider.url, db, "1", 2), tmp_path, logs),
        ):
            await fake.wait_for(lambda: session(fake, (0, 2)) and session(fake, (1, 2)), timeout=60)
            await fake.wait_for(
                lambda: all("video" in fake.commands.names(g) for g in guild_ids), timeout=60
            )
            ix_zero = await video_in(fake, zero, fake.user, "the tide comes in")
            ix_one = await video_in(fake, one, bob, "the kite rises")
            for ix in (ix_zero, ix_one):
                await fake.wait_for(
                    lambda ix=ix: ix.content is not None and "✅" in ix.content, timeout=60
                )
                assert ix.original is not None and len(ix.original.attachments) == 1
            # Each interaction reached (and so was answered by) its guild's cluster only.
            assert received(fake, (0, 2)) == {str(ix_zero.id)}
            assert received(fake, (1, 2)) == {str(ix_one.id)}
        # Commands synced once, by shard 0's process: one bulk overwrite per guild.
        synced = sorted(scope for scope, _ in fake.commands.syncs)
        assert synced == sorted(guild_ids)
        assert sorted(tuple(i["shard"]) for i in fake.gateway.identifies) == [(0, 2), (1, 2)]
    assert "synced by the process holding shard 0" in logs["1"]
    assert f"synced to {len(guild_ids)} server(s)" in logs["0"]
    for text in logs.values():
        assert fake.token not in text and KEY not in text
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT guild_id, status FROM jobs ORDER BY id").fetchall()
    assert rows == [(zero.id, "completed"), (one.id, "completed")]


async def get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def test_a_cluster_reports_its_shards_and_sees_only_their_guilds(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        fake = world.discord
        zero = fake.add_guild("Shard Zero", shard=(0, 2))
        one = fake.add_guild("Shard One", shard=(1, 2))
        async with world.bot(shard_count=2, shard_ids=(1,), health_port=0) as app:
            bot = app.bot
            assert bot.shard_list() == [1] and bot.gateway_connected()
            seen = {g.id for g in bot.guilds}
            assert one.id in seen and zero.id not in seen
            assert seen == {g.id for g in fake.guilds if (g.id >> 22) % 2 == 1}
            assert bot.web is not None
            status, body = await get(bot.web.port, "/healthz")
            health = json.loads(body)
            assert status == 200 and health["shards"] == [1]
            assert health["checks"]["gateway"]["ok"] is True
            status, text = await get(bot.web.port, "/metrics")
            assert status == 200 and 'sora_process_info{shards="1"} 1.0' in text
        assert fake.commands.syncs == []  # not shard 0's process: it never syncs

        # Unset, discord.py's automatic sharding: the shards GET /gateway/bot recommends.
        async with world.bot(health_port=0) as app:
            assert app.bot.shard_count == 1 and app.bot.shard_list() == [0]
            assert app.bot.web is not None
            _, body = await get(app.bot.web.port, "/healthz")
            assert json.loads(body)["shards"] == [0]
            assert {g.id for g in app.bot.guilds} == {g.id for g in fake.guilds}
        assert fake.commands.syncs  # holding shard 0, it synced


async def test_a_cluster_leaves_a_job_alone_while_its_lease_lives(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, never_finish=True, step_delay=0.02)
    async with running_world(tmp_path, scenario=scenario) as world:
        fake, provider = world.discord, world.provider
        zero = fake.add_guild("Shard Zero", shard=(0, 2))
        zero.members.append(fake.user)
        async with (
            world.bot(shard_count=2, shard_ids=(0,)) as first,
            world.bot(shard_count=2, shard_ids=(1,)) as second,
        ):
            ix = await video_in(fake, zero, fake.user, "the lamp flickers")
            await fake.wait_for(lambda: any(p > 0 for p in percents(ix)))  # sent and polled
            [job] = await second.store.unfinished_jobs()  # the shared database holds it
            assert job.guild_id == zero.id and job.id in first.bot.jobs.runs
            # While the first cluster's lease on it lives, the second neither claims it (at
            # its start, or on any lease tick) nor takes it for a stray of its own.
            assert await second.store.lease_holder(job.id) == first.bot.jobs.owner
            assert await second.bot.jobs.resume_unfinished() == 0
            for _ in range(3):
                assert await second.bot.jobs.leases.tick() == 0
                await second.bot.jobs.reconciler.run_once()
            assert job.id not in second.bot.jobs.runs
            assert provider.recorder.submissions == 1
            assert "had no run" not in world.logs.text()
            assert job.id in first.bot.jobs.runs  # its own cluster still carries it on
            assert ix.content is not None and "✅" not in ix.content
