"""Nothing stays stuck: every ``RECONCILE_INTERVAL`` seconds, settle or carry on what was left.

Two kinds of job can be left unfinished while the bot runs on:

- a job whose run ended but whose settlement the database refused every try
  (:class:`~bot.jobs.ledger.Unsettled`): its member was told, but it still
  counts as running and blocks them. Its settlement is retried, as recorded,
  until it sticks;
- an unfinished job this process holds the lease of (see :mod:`bot.jobs.leases`)
  that no run of it owns (a run that crashed, a job left queued). Jobs other
  processes hold are theirs; those of dead processes are claimed by the lease
  keeper. It is handed to the job service, which resumes it (task id,
  resumable provider), starts it (queued, never sent) or fails and refunds
  it, exactly as after a restart.

A job must look stray on two passes in a row before it is touched: one just
accepted, whose run is about to start, is never mistaken for a stray. Jobs a
live run owns, and jobs waiting in :class:`~bot.jobs.ledger.Unsettled`, are
never touched. The service starts the reconciler after resuming at start-up and
stops it before anything else on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from bot.db import Store, StoreError
from bot.db.models import Job
from bot.jobs.ledger import Unsettled
from bot.jobs.periodic import Periodic

log = logging.getLogger(__name__)

Resume = Callable[[set[int]], Awaitable[int]]


class Reconciler(Periodic):
    """The periodic pass; ``live`` names the jobs this process runs now.

    ``unfinished()`` lists the unfinished jobs this process answers for (by
    default every one in the database: a single process).

    ``resume(ids)`` carries on the unfinished jobs among ``ids`` (resumed,
    started, or failed and refunded) and returns how many it started.
    ``chores`` run first on every pass (e.g. removing expired served videos).
    """

    task_name = "reconciler"

    def __init__(
        self,
        *,
        store: Store,
        unfinished: Callable[[], Awaitable[list[Job]]] | None = None,
        unsettled: Unsettled,
        live: Callable[[], Collection[int]],
        resume: Resume,
        interval: float,
        chores: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.store = store
        self.unfinished = unfinished or store.unfinished_jobs
        self.unsettled = unsettled
        self.live = live
        self.resume = resume
        self.interval = interval
        self.chores = chores
        self.passes = 0
        self._suspects: set[int] = set()  # looked stray on the previous pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception:  # one bad pass must not end the passes
                log.exception("reconciling failed; trying again in %.0f s", self.interval)

    async def run_once(self) -> None:
        """One pass: chores, pending settlements, then strays seen twice in a row."""
        for chore in self.chores:
            chore()
        if len(self.unsettled):
            await self.unsettled.retry(self.store)
        try:
            jobs = await self.unfinished()
        except StoreError as exc:
            log.warning("reconciler: could not list unfinished jobs: %s", exc)
            return
        finally:
            self.passes += 1
        live = self.live()
        stray = {j.id for j in jobs if j.id not in live and j.id not in self.unsettled}
        due = stray & self._suspects
        self._suspects = stray - due
        if due:
            log.warning("reconciler: %d unfinished job(s) had no run: %s", len(due), sorted(due))
            await self.resume(due)
