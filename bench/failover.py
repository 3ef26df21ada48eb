"""Two bot processes, one killed midway: how soon the other carries its jobs on; Discord's limits.

Two real ``python -m bot`` processes (shard clusters 0 and 1 of 2) share one
SQLite file with ``JOB_LEASE_SECONDS`` = ``profile.failover_lease``; the fake Discord enforces
Discord's limits (:mod:`bench.fakes`). N members ask for a video at once, half
in a server of each shard. While the jobs render, process 0 is killed with
SIGKILL; process 1 claims its jobs when their leases expire and resumes them.

Measured: for every job of process 0 still unfinished at the kill, the time
from the kill to the job's next progress edit (made by process 1), and its
ratio to the lease (a claim comes within one lease plus a keeper tick, a
third of a lease; then the next progress edit); how those edits went (the
jobs' stored interaction tokens while they live, else the bot token);
Discord's 429 answers over the whole run. The invariants: every job ended,
and no 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.botrun import BotRun, bot_environment, finished, portrait_jpeg
from bench.fakes import KEY, FakeDiscord, enforce_discord_limits
from bench.profile import Profile
from bench.stats import percentile, ratio, rounded
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.harness import percents

TICK = 0.1
MEMBERS_PER_CHANNEL = 10  # a busy video channel; 500 members make 25 channels a server


def environment(
    fake: FakeDiscord, provider: FakeProvider, tmp: Path, shard: int, n: int, profile: Profile
) -> dict[str, str]:
    """One process's settings: those of a bench run, the shared database, its shard of two."""
    env = bot_environment(BotRun("failover", n, "generations"), profile, fake, provider, tmp)
    env.update(
        PROVIDER_POLL_INTERVAL="0.5",
        JOB_LEASE_SECONDS=str(profile.failover_lease),
        PROGRESS_EDIT_INTERVAL="0.5",
        SHARD_COUNT="2",
        SHARD_IDS=str(shard),
    )
    return env


async def run(n: int, profile: Profile) -> dict[str, Any]:
    """N jobs over two processes, process 0 killed while they render; the measurements."""
    # Long enough that the jobs still render when the other process claims them.
    lease = profile.failover_lease
    render = max(profile.job_seconds, 4 * lease) + 2 * n / profile.ramp_per_second
    scenario = Scenario(api_key=KEY, steps=round(render / TICK), step_delay=TICK)
    with tempfile.TemporaryDirectory(prefix="sora-failover-") as tmpdir:
        tmp = Path(tmpdir)
        async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
            enforce_discord_limits(fake)
            guilds = [fake.add_guild(f"shard{s}", shard=(s, 2)) for s in (0, 1)]
            # Members spread over channels as in real servers: messages edited with the bot
            # token are held to 30 edits a minute per channel by Discord (those edited
            # through their interaction token are not: see the README).
            rooms = max(1, n // (2 * MEMBERS_PER_CHANNEL))
            channels = [[fake.add_channel(f"videos-{c}", g) for c in range(rooms)] for g in guilds]
            users = [fake.add_user(f"member{i}") for i in range(n)]
            for i, user in enumerate(users):
                guilds[i % 2].members.append(user)
            procs = []
            for shard in (0, 1):
                env = environment(fake, provider, tmp, shard, n, profile)
                log = (tmp / f"bot{shard}.log").open("wb")
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", cwd=tmp, env=env, stdout=log, stderr=log
                    )
                )
                log.close()
            try:
                for guild in guilds:
                    await fake.wait_for(lambda g=guild: "video" in fake.commands.names(g.id), 60)
                shards = {(0, 2), (1, 2)}
                await fake.wait_for(
                    lambda: shards <= {s.shard for s in fake.gateway.ready_sessions}, 60
                )
                image = fake.upload(portrait_jpeg(), "photo.jpg")
                fake.rate_limits.responses_429 = 0
                jobs = []
                for i, user in enumerate(users):
                    options = {"image": image, "prompt": f"bench job {i}: the tide turns"}
                    guild, room = guilds[i % 2], channels[i % 2][(i // 2) % rooms]
                    jobs.append(
                        await fake.slash("video", options, guild=guild, channel=room, user=user)
                    )
                    await asyncio.sleep(1 / profile.ramp_per_second)  # pacing the members
                doomed = [ix for ix in jobs if ix.guild is guilds[0]]
                # Every job of process 0 renders at the provider (its progress shows): kill it.
                await fake.wait_for(
                    lambda: all(any(p > 0 for p in percents(ix)) for ix in doomed),
                    timeout=profile.timeout,
                )
                procs[0].send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                await procs[0].wait()
                with contextlib.suppress(TimeoutError):
                    await fake.wait_for(lambda: all(finished(ix) for ix in jobs), profile.timeout)
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                        await asyncio.wait_for(proc.wait(), 60)
            takeovers = [
                next(e.at for e in ix.edits if e.at > killed_at) - killed_at
                for ix in doomed
                if any(e.at > killed_at for e in ix.edits)
            ]
            # How the new holder reached the members: their own interaction token while it
            # lives (no channel or global budget spent), else the bot token.
            routes = [e.via for ix in doomed for e in ix.edits if e.at > killed_at]
            p50 = percentile(takeovers, 50)
            worst = max(takeovers) if takeovers else None
            return {
                "n": n,
                "processes": 2,
                "lease_seconds": lease,
                "killed_jobs": len(doomed),
                "taken_over": len(takeovers),
                "takeover_p50_seconds": p50,
                "takeover_max_seconds": worst,
                "takeover_p50_over_lease": rounded(ratio(lease, p50), 3),
                "takeover_max_over_lease": rounded(ratio(lease, worst), 3),
                "succeeded": sum(1 for ix in jobs if ix.content and "✅" in ix.content),
                "unfinished": sum(1 for ix in jobs if not finished(ix)),
                "takeover_edits_webhook": routes.count("webhook"),
                "takeover_edits_bot": routes.count("bot"),
                "discord_429": fake.rate_limits.responses_429,
                "provider_submissions": provider.recorder.submissions,
            }
