"""Soak on PostgreSQL: two bot processes share the jobs, one is killed midway; then invariants.

Two real ``python -m bot`` processes (shard clusters 0 and 1 of 2) on one
PostgreSQL database, with a small ``JOB_LEASE_SECONDS`` and a global
``JOBS_MAX_CONCURRENT`` lower than the jobs in flight, so jobs of both
processes wait in one queue. Push completion is on, and every hook URL points
at process 1: the hooks process 0 issues are called on the other process.
Ten members send 40 ``/video`` requests to the two servers; process 0 is
killed with SIGKILL while its jobs render, and process 1 claims and finishes
them. Afterwards: every job ended exactly once (a final message that nothing
overwrote, a final status), the credits spent equal the videos delivered, the
provider saw one submission per job, and neither secret reached a log.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections import Counter
from pathlib import Path

import pytest

from bot.db import Store
from bot.fake_provider import FakeProvider
from bot.fake_provider.generations import STATE_KEY
from bot.fake_provider.scenario import Scenario
from tests.e2e.test_failover_processes import start, stop
from tests.e2e.test_shards import cluster_env, session, video_in
from tests.support.fake_discord import FakeDiscord, FakeInteraction
from tests.support.harness import KEY, percents
from tests.support.postgres import fresh_database

JOBS = 40
MEMBERS = 10
BEFORE_KILL = 30  # sent while both processes live; the rest go to the survivor's server
SLOTS = 6  # global JOBS_MAX_CONCURRENT: most jobs wait in the shared queue
ENDS = ("✅", "❌")


def free_port() -> int:
    """A port nothing listens on now (the process binds it moments later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ended(ix: FakeInteraction) -> bool:
    """Whether the member's message shows the job's end."""
    return ix.content is not None and any(mark in ix.content for mark in ENDS)


def ended_once(ix: FakeInteraction) -> bool:
    """The message's end is its last word: no progress edit came after the first end."""
    marks = [any(m in (e.content or "") for m in ENDS) for e in ix.edits]
    return True in marks and all(marks[marks.index(True) :])


async def test_two_processes_and_a_sigkill_end_every_job_once_and_bill_what_was_delivered(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    scenario = Scenario(api_key=KEY, steps=8, step_delay=0.25)  # renders ~2 s
    server = request.getfixturevalue("postgres_server")
    hook_ports = [free_port(), free_port()]
    async with (
        fresh_database(server) as url,
        FakeProvider("generations", scenario) as provider,
        FakeDiscord() as fake,
    ):
        guilds = [fake.add_guild("Zero", shard=(0, 2)), fake.add_guild("One", shard=(1, 2))]
        members = [fake.add_user(f"member{n}") for n in range(MEMBERS)]
        for guild in guilds:
            guild.members.extend(members)
        envs = []
        for shard, port in zip(("0", "1"), hook_ports, strict=True):
            env = cluster_env(fake, provider.url, tmp_path / "unused.sqlite3", shard, 2)
            env.pop("DATABASE_PATH")
            env.update(
                DATABASE_URL=url,
                JOB_LEASE_SECONDS="3",
                RECONCILE_INTERVAL="1",
                JOBS_MAX_CONCURRENT=str(SLOTS),
                JOBS_MAX_PER_USER="10",
                QUOTA_PER_DAY="20",
                PUBLIC_BASE_URL=f"http://127.0.0.1:{hook_ports[1]}",
                HOOK_HOST="127.0.0.1",
                HOOK_PORT=str(port),
                MEDIA_DIR=str(tmp_path / f"media{shard}"),
            )
            envs.append(env)
        doomed = await start(envs[0], tmp_path)
        survivor = await start(envs[1], tmp_path)
        logs = ""
        sent: list[FakeInteraction] = []
        finished = False
        try:
            await fake.wait_for(lambda: session(fake, (0, 2)) and session(fake, (1, 2)), timeout=60)
            for guild in guilds:
                await fake.wait_for(lambda g=guild: "video" in fake.commands.names(g.id), 60)

            async def send(n: int, guild_index: int) -> None:
                member = members[n % MEMBERS]
                sent.append(await video_in(fake, guilds[guild_index], member, f"soakpg#{n}"))

            await asyncio.gather(*(send(n, n % 2) for n in range(BEFORE_KILL)))
            doomed_jobs = [ix for ix in sent if ix.guild is guilds[0]]
            # Midway: some of process 0's jobs render, others still wait in the queue.
            await fake.wait_for(lambda: any(percents(ix) for ix in doomed_jobs), timeout=60)
            logs += await stop(doomed, signal.SIGKILL)
            assert doomed.returncode == -signal.SIGKILL
            await asyncio.gather(*(send(n, 1) for n in range(BEFORE_KILL, JOBS)))
            # Well inside the test's own timeout, so a stuck job fails with the logs below.
            await fake.wait_for(lambda: all(ended(ix) for ix in sent), timeout=70)
            finished = True
        finally:
            logs += await stop(doomed, signal.SIGKILL)
            logs += await stop(survivor)
            if not finished:  # shown with the failure: what the two bots said
                print(logs[-8000:])
        assert survivor.returncode == 0, logs[-3000:]
        assert len(sent) == JOBS and all(ended_once(ix) for ix in sent)

        async with Store.open(url) as store:
            jobs = [j for m in members for j in await store.recent_jobs(m.id, limit=50)]
            assert len(jobs) == JOBS
            assert {j.status for j in jobs} <= {"completed", "failed"}
            assert await store.unfinished_jobs() == []
            completed = [j for j in jobs if j.status == "completed"]
            spent = sum([(await store.usage(m.id, 20)).used for m in members])
            assert spent == len(completed)  # failures were refunded, deliveries kept
            hooks = await store._all("SELECT owner, fired_at FROM job_hooks", ())
        delivered = [ix for ix in sent if ix.original is not None and ix.original.attachments]
        assert len(delivered) == len(completed) > JOBS // 2
        # One submission per job: never resent on the process that claimed it.
        tasks = provider.app[STATE_KEY].tasks.values()
        prompts = Counter(str(t.request["prompt"]) for t in tasks)
        assert provider.recorder.submissions == len(prompts) and set(prompts.values()) == {1}
        assert len(prompts) >= len(completed)
        # Process 0's hooks were called on process 1, and recorded there for process 0.
        assert any(f":{doomed.pid}:" in str(o) and fired for o, fired in hooks)
        assert "job(s) whose lease expired" in logs
        assert fake.token not in logs and KEY not in logs
