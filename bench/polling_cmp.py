"""Polling side by side: our ``videos`` client against ``openai``'s ``create_and_poll``.

Both run in a child process (:mod:`bench.pollers`) against the same fake
``videos`` server with the same job timings and the same provider hint
(``openai-poll-after-ms``); the fake answers with the video's public URL, so
neither client downloads anything. The server takes the times: when each job
ended by the clock, and when a status answer first said "completed".
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from bench.botrun import TICK
from bench.fakes import KEY, ROOT, completion_observer, is_status_path
from bench.profile import Profile
from bench.stats import percentile
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.fake_provider.videos import STATE_KEY


async def client_run(client: str, n: int, profile: Profile) -> dict[str, Any]:
    """``n`` jobs made by ``client`` ("ours" or "openai"); what the server saw."""
    scenario = Scenario(
        api_key=KEY,
        steps=round(profile.job_seconds / TICK),
        step_delay=TICK,
        poll_after_ms=profile.poll_after_ms,
        sora_video_url=True,
    )
    first_done: dict[str, float] = {}
    fake = FakeProvider("videos", scenario)
    fake.app.middlewares.append(completion_observer(first_done))
    async with fake:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.pollers", client, fake.url, str(n),
            str(profile.ramp_per_second), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), profile.timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{client} client failed:\n{err.decode()[-3000:]}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        total = scenario.steps * scenario.step_delay
        jobs = fake.app[STATE_KEY].videos
        delays = [first_done[i] - job.created - total for i, job in jobs.items() if i in first_done]
        requests = fake.recorder.requests
        polls = sum(1 for r in requests if r["method"] == "GET" and is_status_path(r["path"]))
    return {
        "client": client,
        "n": n,
        "completed": result["completed"],
        "completion_delay_p50": percentile(delays, 50),
        "completion_delay_p99": percentile(delays, 99),
        "provider_requests_per_job": len(requests) / n,
        "status_polls_per_job": polls / n,
        "client_cpu_seconds": result["cpu_seconds"],
    }
