"""The bot process of a bench run: ``python -m bot``'s own startup, measuring itself.

Run as ``python -m bench.botproc`` with the bot's usual environment variables
plus ``BENCH_STATS`` (where to write the measurements as JSON) and
``BENCH_EDITS`` (``scheduler``, the default, or ``naive``). Everything is the
real bot: settings from the environment, one session, the SQLite store, the
provider client, :class:`~bot.bot.SoraBot` with its job service. The only
additions are counters: progress events seen, resident memory sampled every
0.2 s (with the number of jobs in flight), and CPU time. SIGUSR1 starts the
measurement afresh (after a warm-up job); SIGTERM stops the bot as usual,
after a snapshot of the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench.naive import NaiveEdits
from bot.__main__ import client_session, point_discord_at
from bot.app import SoraBot
from bot.config import Settings
from bot.db import Store
from bot.providers.base import Event, Progress, Queued
from bot.providers.factory import make_provider

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_EVERY = 0.2


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class Meter:
    """Samples memory and jobs in flight; counts progress events."""

    def __init__(self, jobs_in_flight: Callable[[], int], hooks: Callable[[], int]) -> None:
        self.jobs_in_flight = jobs_in_flight
        self.hooks = hooks  # push calls accepted so far
        self.hooks_base = 0
        self.events = 0
        self.baseline_rss = rss_bytes()
        self.peak_rss = self.baseline_rss
        self.max_jobs = 0
        self.cpu_start = time.process_time()
        self.wall_start = time.monotonic()
        self.snapshot: dict[str, Any] = {}

    def count(self, provider: Any) -> None:
        """Wrap ``provider.generate``/``resume`` to count the progress events they yield."""
        meter = self

        def counted(
            original: Callable[[Any], AsyncIterator[Event]],
        ) -> Callable[[Any], AsyncIterator[Event]]:
            async def wrapper(arg: Any) -> AsyncIterator[Event]:
                stream = original(arg)
                del arg  # as the bot does: no reference to the image while the job renders
                async with contextlib.aclosing(stream) as events:
                    async for event in events:
                        if isinstance(event, Progress | Queued):
                            meter.events += 1
                        yield event

            return wrapper

        provider.generate = counted(provider.generate)
        provider.resume = counted(provider.resume)

    def reset(self) -> None:
        """Start measuring now (SIGUSR1: the warm-up job is over, the measured ones follow)."""
        self.events = 0
        self.hooks_base = self.hooks()
        self.baseline_rss = self.peak_rss = rss_bytes()
        self.max_jobs = 0
        self.cpu_start = time.process_time()
        self.wall_start = time.monotonic()

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            jobs, rss = self.jobs_in_flight(), rss_bytes()
            self.max_jobs = max(self.max_jobs, jobs)
            self.peak_rss = max(self.peak_rss, rss)
            await asyncio.sleep(SAMPLE_EVERY)

    def take_snapshot(self, bot: SoraBot) -> None:
        """Freeze the counters (at SIGTERM, before shutdown work is counted)."""
        edits = bot.jobs.context.edits  # what the runs actually used
        self.snapshot = {
            "edit_strategy": type(edits).__name__,
            "progress_events": self.events,
            "cpu_seconds": time.process_time() - self.cpu_start,
            "wall_seconds": time.monotonic() - self.wall_start,
            "baseline_rss": self.baseline_rss,
            "peak_rss_sampled": self.peak_rss,
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "max_jobs_in_flight": self.max_jobs,
            "edits_started": getattr(edits, "sent", None),
            "hooks_accepted": self.hooks() - self.hooks_base
            if bot.jobs.hooks is not None
            else None,
        }


async def run(settings: Settings, naive: bool) -> dict[str, Any]:
    """The bot, as ``bot.__main__.run`` starts it, with a meter attached."""
    async with (
        client_session(settings) as session,
        Store.open(settings.database_path) as store,
    ):
        provider = make_provider(session, settings.provider)
        async with SoraBot(
            settings=settings, session=session, store=store, provider=provider
        ) as bot:
            if naive:
                # The runs read the scheduler from the service's RunContext: swap it there.
                naive_edits = NaiveEdits()
                bot.jobs.edits = naive_edits  # type: ignore[assignment]
                bot.jobs.context = dataclasses.replace(
                    bot.jobs.context,
                    edits=naive_edits,  # type: ignore[arg-type]
                )
            hooks = bot.jobs.hooks
            meter = Meter(
                lambda: len(bot.jobs.runs), lambda: hooks.accepted if hooks is not None else 0
            )
            meter.count(provider)
            sampler = asyncio.create_task(meter.run())

            def stop() -> None:
                meter.take_snapshot(bot)
                asyncio.get_running_loop().create_task(bot.close())

            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, stop)
            loop.add_signal_handler(signal.SIGUSR1, meter.reset)
            try:
                await bot.start(settings.discord_token)
            finally:
                sampler.cancel()
    return meter.snapshot or {"error": "stopped without SIGTERM"}


def main() -> int:
    """Entry point of the child process."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    point_discord_at(settings)
    naive = os.environ.get("BENCH_EDITS", "scheduler") == "naive"
    stats = asyncio.run(run(settings, naive))
    Path(os.environ["BENCH_STATS"]).write_text(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
