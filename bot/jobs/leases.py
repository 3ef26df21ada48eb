"""This process's hold on its jobs: renew their leases, act on what others asked, claim orphans.

Every ``JOB_LEASE_SECONDS / 3`` the keeper:

1. renews the lease of every unfinished job this process holds (see
   :mod:`bot.db.leases`), and hands a Cancel pressed on another process to
   the job's run here, which settles it as if the button had been pressed
   here;
2. hands the push-hook calls another process recorded for this process's
   hooks to their pollers;
3. claims the jobs whose lease expired (their process died, or shut down and
   released them) and has the service resume them: from the provider's task
   id when it has one, never submitted twice, never charged twice.

A renewal that fails (the database is away) is tried again on the next tick;
the leases last three ticks, so one failed tick loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

from bot.db import Store, StoreError
from bot.db.models import Job
from bot.jobs.periodic import Periodic
from bot.jobs.run import JobRun

log = logging.getLogger(__name__)

Resume = Callable[[list[Job]], Awaitable[int]]
#: Wakes the local pollers of the fired hooks, by token hash.
Wake = Callable[[set[str]], None]
HOOK_MEMORY = timedelta(days=1)  # hooks older than this belong to long-ended jobs


class LeaseKeeper(Periodic):
    """Renews ``owner``'s leases, relays cross-process Cancels and hook calls, claims orphans."""

    task_name = "lease-keeper"

    def __init__(
        self,
        *,
        store: Store,
        owner: str,
        seconds: float,
        runs: Callable[[], Mapping[int, JobRun]],
        resume: Resume,
        wake: Wake | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.runs = runs
        self.resume = resume
        self.wake = wake
        self.ticks = 0
        self._relayed: set[int] = set()  # Cancels already handed to their run

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except StoreError as exc:
                log.warning("leases: %s; trying again in %.1f s", exc, self.seconds / 3)
            except Exception:  # one bad tick must not end the ticks
                log.exception("leases: a tick failed")
            await asyncio.sleep(self.seconds / 3)

    async def tick(self) -> int:
        """Renew, relay, then claim; returns how many claimed jobs were resumed here."""
        self.ticks += 1
        await self.renew()
        if self.wake is not None:
            fired = await self.store.take_fired_hooks(self.owner)
            if fired:
                self.wake(fired)
            if self.ticks % 100 == 1:
                await self.store.forget_hooks(datetime.now(UTC) - HOOK_MEMORY)
        claimed = await self.store.claim_expired(self.owner, self.seconds)
        if not claimed:
            return 0
        log.info("claimed %d job(s) whose lease expired: %s", len(claimed), [j.id for j in claimed])
        return await self.resume(claimed)

    async def renew(self) -> None:
        """Extend this process's leases and act on the Cancels pressed elsewhere."""
        runs = self.runs()
        for renewed in await self.store.renew_leases(self.owner, self.seconds):
            run = runs.get(renewed.job_id)
            if renewed.cancel_by is None or run is None or renewed.job_id in self._relayed:
                continue
            self._relayed.add(renewed.job_id)
            if run.request_cancel(renewed.cancel_by, keep_credit=renewed.keep_credit):
                log.info("job %s: cancelled from another process", renewed.job_id)

    async def release(self, *, keep: Collection[int] = ()) -> None:
        """Give up the leases (a clean shutdown): the next process resumes the jobs at once.

        ``keep``: jobs whose runs have not stopped yet; their leases run out instead.
        """
        try:
            released = await self.store.release_leases(self.owner, keep=keep)
        except StoreError as exc:
            log.warning("could not release the job leases (they expire by themselves): %s", exc)
            return
        if released:
            log.info("released %d job lease(s) for the next process", released)
