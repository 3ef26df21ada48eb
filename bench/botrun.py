"""One bot run: N members each ask for a video at once; what it cost and how it felt.

The bot runs in its own process (:mod:`bench.botproc`, the real bot), the fake
Discord and the fake provider in this one, so the bot's memory and CPU are its
own and the fakes do not compete for its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bench.fakes import (
    KEY,
    ROOT,
    EndTimes,
    FakeDiscord,
    enforce_discord_limits,
    is_status_path,
    job_index,
)
from bench.profile import Profile
from bench.stats import max_gap, percentile
from bot.fake_provider import FakeProvider
from bot.fake_provider.generations import STATE_KEY as GENERATIONS
from bot.fake_provider.scenario import Scenario
from bot.fake_provider.videos import STATE_KEY as VIDEOS

TICK = 0.1  # the fake provider's clock step (its hook watcher wakes this often)


@dataclass(frozen=True)
class BotRun:
    """What to run: ``protocol``, edits by ``scheduler`` or ``naive``, push on or off."""

    label: str
    n: int
    protocol: str = "videos"
    edits: str = "scheduler"
    push: bool = False


def portrait_jpeg() -> bytes:
    """A member's picture, already 720x1280 (the bot still checks and re-encodes it)."""
    buf = io.BytesIO()
    Image.new("RGB", (720, 1280), (30, 120, 200)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def free_port() -> int:
    """A free loopback port (the push URL must name it before the bot binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scenario_for(run: BotRun, profile: Profile) -> Scenario:
    """The fake provider's timing: every job renders ``profile.job_seconds``."""
    if run.protocol == "chat":
        step = 1 / profile.chat_events_per_second
        steps = round(profile.job_seconds / step)
        return Scenario(api_key=KEY, steps=steps, step_delay=step, chat_style="gptproto")
    return Scenario(
        api_key=KEY,
        steps=round(profile.job_seconds / TICK),
        step_delay=TICK,
        poll_after_ms=profile.poll_after_ms,
    )


def bot_environment(
    run: BotRun, profile: Profile, fake: FakeDiscord, provider: FakeProvider, tmp: Path
) -> dict[str, str]:
    """The bot's settings, as an operator would write them (plus the bench's two)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(fake.env())
    env.update(
        PYTHONPATH=str(ROOT),
        PROVIDER_PROTOCOL=run.protocol,
        PROVIDER_BASE_URL=provider.url,
        PROVIDER_API_KEY=KEY,
        DATABASE_PATH=str(tmp / "bot.sqlite3"),
        JOBS_MAX_CONCURRENT=str(min(1000, max(run.n, 1))),
        JOBS_MAX_PER_USER="1",
        QUOTA_PER_DAY="5",
        PROGRESS_EDIT_INTERVAL=str(profile.progress_interval),
        LOG_LEVEL="warning",
        BENCH_STATS=str(tmp / "stats.json"),
        BENCH_EDITS=run.edits,
    )
    if run.push:
        port = free_port()
        env.update(
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", HOOK_HOST="127.0.0.1", HOOK_PORT=str(port)
        )
    return env


def finished(ix: Any) -> bool:
    """Whether the job's message shows its end."""
    content = ix.content
    return content is not None and ("✅" in content or "❌" in content)


async def execute(run: BotRun, profile: Profile) -> dict[str, Any]:
    """Run the bot with ``run.n`` members asking at once; returns the measurements."""
    scenario = scenario_for(run, profile)
    with tempfile.TemporaryDirectory(prefix="sora-bench-") as tmpdir, EndTimes() as ends:
        tmp = Path(tmpdir)
        async with FakeProvider(run.protocol, scenario) as provider, FakeDiscord() as fake:
            enforce_discord_limits(fake)
            users = [fake.add_user(f"member{i}") for i in range(run.n)]
            env = bot_environment(run, profile, fake, provider, tmp)
            log = (tmp / "bot.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.botproc", cwd=ROOT, env=env,
                stdout=log, stderr=log,
            )  # fmt: skip
            try:
                await fake.wait_for(lambda: fake.commands.names(fake.guilds[0].id), timeout=60)
                await fake.wait_until_connected(timeout=60)
                image = fake.upload(portrait_jpeg(), "photo.jpg")
                await _warm_up(fake, image)
                proc.send_signal(signal.SIGUSR1)  # the bot's meter starts from here
                jobs, started = await _ask(fake, users, image, profile)
                await _until_done(fake, jobs, profile.timeout)
                done_at = time.monotonic()
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 60)
                log.close()
            stats_file = tmp / "stats.json"
            if not stats_file.exists():
                tail = (tmp / "bot.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{run.label}: the bot process failed:\n{tail}")
            stats = json.loads(stats_file.read_text())
            return measure(run, scenario, fake, provider, jobs, ends.at, stats, started, done_at)


async def _warm_up(fake: FakeDiscord, image: Any) -> None:
    """One job before the measured ones: first-use costs (imports, threads) are not per job."""
    ix = await fake.slash(
        "video", {"image": image, "prompt": "bench warm-up"}, user=fake.add_user("warm-up")
    )
    await fake.wait_for(lambda: finished(ix), timeout=120)


async def _ask(
    fake: FakeDiscord, users: list[Any], image: Any, profile: Profile
) -> tuple[list[Any], float]:
    """Every member types `/video`, ``profile.ramp_per_second`` a second."""
    started = time.monotonic()
    fake.rate_limits.responses_429 = 0
    jobs = []
    for i, user in enumerate(users):
        prompt = f"bench job {i}: the waves roll in"
        jobs.append(await fake.slash("video", {"image": image, "prompt": prompt}, user=user))
        # Pacing the arrivals, not synchronising: members do not all click in one millisecond.
        await asyncio.sleep(1 / profile.ramp_per_second)
    return jobs, started


async def _until_done(fake: FakeDiscord, jobs: list[Any], timeout: float) -> None:
    """Until every job's message shows its end (or ``timeout``: the rest count as unfinished)."""
    with contextlib.suppress(TimeoutError):
        # Jobs end roughly in order, so all() stops at the first unfinished one: cheap.
        await fake.wait_for(lambda: all(finished(ix) for ix in jobs), timeout=timeout)


def provider_finish_times(
    run: BotRun, scenario: Scenario, provider: FakeProvider, ends: dict[str, float]
) -> dict[int, float]:
    """When the fake provider finished each bench job, by job number.

    Polling: the job's scheduled end (submit + render time), whenever the bot
    looks. Push: the moment the fake ended the job and called the hook.
    """
    if run.protocol == "chat":
        return {}  # a stream: the provider's end is the message itself
    key = VIDEOS if run.protocol == "videos" else GENERATIONS
    state = provider.app[key]
    fake_jobs = state.videos if run.protocol == "videos" else state.tasks  # type: ignore[attr-defined]
    total = scenario.steps * scenario.step_delay
    times: dict[int, float] = {}
    for job_id, job in fake_jobs.items():
        index = job_index(job.request.get("prompt"))
        if index is None:
            continue
        times[index] = ends.get(job_id, job.created + total) if run.push else job.created + total
    return times


def measure(
    run: BotRun,
    scenario: Scenario,
    fake: FakeDiscord,
    provider: FakeProvider,
    jobs: list[Any],
    ends: dict[str, float],
    stats: dict[str, Any],
    started: float,
    done_at: float,
) -> dict[str, Any]:
    """Turn what the fakes recorded (and the bot's own counters) into the report's numbers."""
    n = len(jobs)
    finish = provider_finish_times(run, scenario, provider, ends)
    delays, gaps = [], []
    for index, ix in enumerate(jobs):
        edits = ix.edits
        final = next((e.at for e in edits if "✅" in e.content), None)
        if final is not None and index in finish:
            delays.append(final - finish[index])
        gap = max_gap([e.at for e in edits])
        if gap is not None:
            gaps.append(gap)
    requests = [r for r in fake.requests if r.at >= started]
    edits_sent = [r for r in requests if r.method == "PATCH"]
    sent = [r for r in provider.recorder.requests if r["time"] >= started]
    status_polls = sum(1 for r in sent if r["method"] == "GET" and is_status_path(r["path"]))
    jobs_in_flight = max(1, stats.get("max_jobs_in_flight") or 1)
    rss_growth = stats["peak_rss_sampled"] - stats["baseline_rss"]
    events = stats.get("progress_events") or 0
    return {
        "label": run.label,
        "n": n,
        "protocol": run.protocol,
        "edits": run.edits,
        "edit_strategy": stats.get("edit_strategy"),
        "push": run.push,
        "succeeded": sum(1 for ix in jobs if ix.content and "✅" in ix.content),
        "failed": sum(1 for ix in jobs if ix.content and "❌" in ix.content),
        "unfinished": sum(1 for ix in jobs if not finished(ix)),
        "wall_seconds": done_at - started,
        "completion_delay_p50": percentile(delays, 50),
        "completion_delay_p99": percentile(delays, 99),
        "completion_delay_max": max(delays) if delays else None,
        "discord_requests_per_job": len(requests) / n,
        "discord_edits_per_job": len(edits_sent) / n,
        "discord_429": fake.rate_limits.responses_429,
        "refresh_gap_p50": percentile(gaps, 50),
        "refresh_gap_max": max(gaps) if gaps else None,
        "provider_requests_per_job": len(sent) / n,
        "provider_status_polls_per_job": status_polls / n,
        "peak_rss_mib": stats["max_rss_kib"] / 1024,
        "memory_per_job_kib": rss_growth / jobs_in_flight / 1024,
        "max_jobs_in_flight": stats.get("max_jobs_in_flight"),
        "progress_events": events,
        "cpu_seconds": stats["cpu_seconds"],
        "cpu_ms_per_progress_event": 1000 * stats["cpu_seconds"] / events if events else None,
        "hooks_accepted": stats.get("hooks_accepted"),
    }
