"""Carrying jobs on after a restart or another process's death: resume, start or end them.

A mixin of :class:`bot.jobs.service.JobService`, which owns the runs; the
reconciler also calls :meth:`JobResumer.resume_unfinished` for stray jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable

from bot.config import Settings
from bot.db import Store
from bot.db.models import Job
from bot.errors import UserError
from bot.i18n import t, translate_known
from bot.jobs import ledger
from bot.jobs.background import TaskSet
from bot.jobs.context import RunContext
from bot.jobs.request import JobRequest, request_from_job
from bot.jobs.run import JobRun
from bot.providers.base import Provider
from bot.providers.registry import resumes_here
from bot.ui.messenger import JobMessenger
from bot.ui.text import failure_message, job_locale

log = logging.getLogger(__name__)


class JobResumer:
    """Resumes unfinished jobs, for the service that owns the runs (see ``JobService``)."""

    # Provided by the service this is mixed into.
    settings: Settings
    owner: str
    store: Store
    provider: Provider
    context: RunContext
    runs: dict[int, JobRun]
    tasks: TaskSet
    messenger: Callable[..., JobMessenger]
    start: Callable[..., asyncio.Task[None] | None]

    async def resume_unfinished(self, only: Collection[int] | None = None) -> int:
        """Carry on unfinished jobs this process may take; returns how many were started.

        Without ``only`` (at start-up) these are the jobs whose lease expired or
        was released: their process is gone, and each is claimed by exactly one
        process (see :mod:`bot.db.leases`). ``only`` names the reconciler's
        strays, jobs this process holds but no run of it carries. A job a run
        of this process owns, or whose settlement waits for the reconciler, is skipped.
        """
        if only is None:
            jobs = await self.store.claim_expired(self.owner, self.settings.job_lease_seconds)
        else:
            jobs = [j for j in await self.store.leased_jobs(self.owner) if j.id in only]
            return await self.resume_jobs(jobs, claimed=False)
        return await self.resume_jobs(jobs)

    async def resume_jobs(self, jobs: Iterable[Job], *, claimed: bool = True) -> int:
        """Resume what the provider still has of ``jobs``, start the never sent, end the rest.

        Chat-protocol jobs (not resumable) that were sent are failed and
        refunded, with a Retry button, exactly as after a restart. ``claimed``
        jobs come from a process that died (or this one's previous run): their
        messages' rate budgets are taken as spent (see :mod:`bot.ui.edits`).
        """
        resumable = self.provider.capabilities.resumable
        carried = 0
        for job in jobs:
            if job.id in self.runs or job.id in self.context.unsettled:
                continue
            messenger = self.messenger(job, claimed=claimed)
            try:
                request = request_from_job(job, self.provider.capabilities)
            except UserError as exc:
                await self._end_stale(job, messenger, str(exc), None)
                continue
            same_provider = resumes_here(self.provider, job)
            if job.provider_task_id and same_provider and resumable:
                self.start(job, request, messenger, resume_task_id=job.provider_task_id)
            elif job.status == "queued" and not job.provider_task_id and job.submitted_at is None:
                self.start(job, request, messenger)  # never submitted: safe to start now
            else:
                await self._end_stale(job, messenger, ledger.RESTART_REASON, request)
                continue
            carried += 1
        if carried:
            log.info("resumed %d unfinished job(s)", carried)
        return carried

    async def _end_stale(
        self, job: Job, messenger: JobMessenger, reason: str, request: JobRequest | None
    ) -> None:
        if not await ledger.settle(self.store, job.id, "failed", error=reason):
            return
        log.info("job %s could not be resumed: %s", job.id, reason)
        if request is not None:
            content = failure_message(job.user_id, job.prompt, request.options, reason)
        else:
            locale = job_locale(job.options)
            content = t(
                locale,
                "❌ {member}, your video could not be finished: {reason}",
                member=f"<@{job.user_id}>",
                reason=translate_known(locale, reason),
            )
        # In the background: its rate budget may take a while (a claimed channel counts
        # as spent), and the jobs after this one should not wait for it.
        self.tasks.spawn(self._tell(job.id, messenger, content), name=f"job:{job.id}:final")

    async def _tell(self, job_id: int, messenger: JobMessenger, content: str) -> None:
        """Show a stale job's end, paced on its message's budgets like any final message."""
        messenger.pacer = self.context.edits.handle(messenger.edit, messenger, name=f"job {job_id}")
        try:
            await messenger.finish(content, None, "retry")
        except Exception as exc:
            log.warning("job %s: could not tell the member: %s", job_id, exc)
