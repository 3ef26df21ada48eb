"""The job service: accept (reserve a credit), start, resume after a restart, cancel.

A job's own lifetime (slot, provider, delivery, settlement) is in
:mod:`bot.jobs.run`; this module decides which jobs run and owns their tasks.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
import discord

from bot.config import Settings
from bot.db import Store, StoreError
from bot.db.models import Job
from bot.errors import UserError
from bot.jobs.admission import admit
from bot.jobs.background import TaskSet
from bot.jobs.run import JobRun
from bot.jobs.slots import SlotQueue
from bot.ops.logs import job_context
from bot.providers.base import ModelSpec, Orientation, Provider
from bot.providers.errors import UnsupportedOption
from bot.providers.push import HookRegistry, HookServer, PushCapable
from bot.ui.edits import EditScheduler
from bot.ui.messenger import JobMessenger
from bot.ui.text import failure_message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A validated `/video` request, before a credit is reserved."""

    user_id: int
    guild_id: int | None
    channel_id: int
    prompt: str
    model: ModelSpec
    duration: int
    orientation: Orientation
    hd: bool
    image_url: str
    image_size: int
    # --- operator's rules (issue 6, bot.jobs.admission): the member's role ids, the
    # parent of a thread, and the cost in credits (None: from COST_TABLE at accept).
    role_ids: tuple[int, ...] = ()
    parent_channel_id: int | None = None
    cost: int | None = None

    @property
    def options(self) -> dict[str, object]:
        """The options as stored with the job (with its cost when it is not 1 credit)."""
        options: dict[str, object] = {
            "model": self.model.name,
            "duration": self.duration,
            "orientation": self.orientation,
            "hd": self.hd,
        }
        if self.cost is not None and self.cost != 1:
            options["cost"] = self.cost
        return options


class JobService:
    """Runs video jobs within the global and per-user limits."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        provider: Provider,
        session: aiohttp.ClientSession,
        client: discord.Client,
    ) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.session = session
        self.client = client
        self.tasks = TaskSet()
        self.runs: dict[int, JobRun] = {}
        self.waiting: dict[int, JobRun] = {}
        self.slots = SlotQueue(settings.max_concurrent_jobs, on_change=self._positions_changed)
        self.closing = False
        # Scale (issue 5): one edit scheduler for every job's progress message, and push.
        self.edits = EditScheduler(settings.progress_interval, settings.edit_budget)
        self.hooks: HookRegistry | None = None
        self.hook_server: HookServer | None = None
        if settings.public_base_url and isinstance(provider, PushCapable):
            self.hooks = HookRegistry(settings.public_base_url)
            self.hook_server = HookServer(self.hooks, settings.hook_host, settings.hook_port)
            provider.use_hooks(self.hooks)

    async def open(self) -> None:
        """Open what the jobs need besides Discord: the push-hook listener, when enabled."""
        if self.hook_server is not None:
            await self.hook_server.start()

    async def accept(self, request: JobRequest) -> Job:
        """Apply the operator's rules and reserve the job's credits atomically.

        The rules (prompt filter, blocks, channels, limits, extra credits, budget
        caps) and their refusal messages live in :mod:`bot.jobs.admission`.
        """
        try:
            return await admit(self.store, self.settings, request, protocol=self.provider.name)
        except StoreError as exc:
            log.error("reserving a credit failed: %s", exc)
            raise UserError(
                "The bot could not record your request right now. Nothing was charged; "
                "please try again in a minute."
            ) from None

    async def refund(self, job: Job, reason: str) -> None:
        """End an accepted job that never started (e.g. the defer failed)."""
        await self.store.settle(job.id, "failed", error=reason)

    def messenger(self, job: Job, interaction: discord.Interaction | None = None) -> JobMessenger:
        """The job's message: the interaction's reply, or (after a restart) its stored ids."""

        async def moved(channel_id: int, message_id: int) -> None:
            await self.store.update_job(job.id, channel_id=channel_id, message_id=message_id)

        return JobMessenger(
            self.client,
            job_id=job.id,
            user_id=job.user_id,
            channel_id=job.channel_id,
            message_id=job.message_id,
            interaction=interaction,
            on_moved=moved,
        )

    def start(
        self,
        job: Job,
        request: JobRequest,
        messenger: JobMessenger,
        *,
        resume_task_id: str | None = None,
    ) -> asyncio.Task[None] | None:
        """Run ``job`` in the background; its message is kept up to date by ``messenger``.

        Once :meth:`close` has begun nothing starts (the store and session are going
        away): the job stays queued and the next start resumes it.
        """
        if self.closing:
            log.info("job %s not started: the bot is shutting down", job.id)
            return None
        run = JobRun(self, job, request, messenger, resume_task_id=resume_task_id)
        self.runs[job.id] = run
        self.waiting[job.id] = run
        with job_context(job.id):  # every log line of the job's task carries its id
            task = self.tasks.spawn(run.main(), name=f"job:{job.id}")
        task.add_done_callback(lambda _: self.runs.pop(job.id, None))
        run.task = task
        return task

    def request_from_job(self, job: Job) -> JobRequest:
        """Rebuild a request from a stored job (for resuming and retrying)."""
        options = job.options
        try:
            spec = self.provider.capabilities.model(str(options.get("model")))
        except UnsupportedOption as exc:
            raise UserError(str(exc)) from None
        orientation: Orientation = (
            "landscape" if options.get("orientation") == "landscape" else "portrait"
        )
        return JobRequest(
            user_id=job.user_id,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            prompt=job.prompt,
            model=spec,
            duration=int(options.get("duration") or spec.default_duration),
            orientation=orientation,
            hd=bool(options.get("hd")),
            image_url=job.image_url or "",
            image_size=0,
            cost=job.cost,
        )

    async def resume_unfinished(self) -> int:
        """Carry on every job that had not ended when the bot stopped; returns how many."""
        resumable = self.provider.capabilities.resumable
        carried = 0
        for job in await self.store.unfinished_jobs():
            if job.id in self.runs:
                continue
            messenger = self.messenger(job)
            try:
                request = self.request_from_job(job)
            except UserError as exc:
                await self._end_stale(job, messenger, str(exc))
                continue
            same_provider = job.protocol == self.provider.name
            if job.provider_task_id and same_provider and resumable:
                self.start(job, request, messenger, resume_task_id=job.provider_task_id)
            elif job.status == "queued" and not job.provider_task_id:
                self.start(job, request, messenger)  # never submitted: safe to start now
            else:
                reason = (
                    "The bot restarted while making this video, and this kind of job "
                    "cannot be resumed."
                )
                await self._end_stale(job, messenger, reason)
                continue
            carried += 1
        if carried:
            log.info("resumed %d unfinished job(s)", carried)
        return carried

    async def _end_stale(self, job: Job, messenger: JobMessenger, reason: str) -> None:
        if not await self.store.settle(job.id, "failed", error=reason):
            return
        log.info("job %s could not be resumed: %s", job.id, reason)
        try:
            request = self.request_from_job(job)
            content = failure_message(job.user_id, job.prompt, request.options, reason)
        except UserError:
            content = f"❌ <@{job.user_id}>, your video could not be finished: {reason}"
        try:
            await asyncio.wait_for(messenger.finish(content, None, "retry"), 30)
        except Exception as exc:
            log.warning("job %s: could not tell the member: %s", job.id, exc)

    async def cancel(self, job_id: int, *, by: int, can_manage: bool) -> str:
        """Cancel a job for a member; returns what to tell them."""
        job = await self.store.get_job(job_id)
        if job is None:
            return "That video no longer exists."
        if by != job.user_id and not can_manage:
            return "Only the member who asked for this video, or a server manager, can cancel it."
        if job.is_final:
            return "This video has already finished."
        run = self.runs.get(job_id)
        if run is not None and run.settled:  # ended; only its last message is on its way
            return "This video has already finished."
        if run is not None and run.task is not None:
            run.cancelled_by = by
            run.task.cancel()
            return "Cancelled. The credit was refunded."
        if await self.store.settle(job_id, "cancelled", error="cancelled"):
            return "Cancelled. The credit was refunded."
        return "This video has already finished."

    def _positions_changed(self) -> None:
        for run in list(self.waiting.values()):
            run.show_waiting()

    async def close(self) -> None:
        """Stop: jobs that can be resumed are left for the next start, the rest settle."""
        self.closing = True
        await self.tasks.cancel_all(timeout=7.0)
        await self.edits.close()
        if self.hook_server is not None:
            await self.hook_server.close()
