"""The job service: launch (reserve a credit, answer, start) and close.

A job's own lifetime (slot, provider, delivery, settlement) is in
:mod:`bot.jobs.run`; this module decides which jobs run and owns their tasks.
The cogs and buttons call it; it is the only caller of the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp
import discord

from bot.config import Settings
from bot.db import Store, StoreError
from bot.db.leases import owner_id
from bot.db.models import Job
from bot.errors import Refusal, UserError
from bot.i18n import N_, msg
from bot.jobs import ledger
from bot.jobs.admission import admit
from bot.jobs.background import TaskSet
from bot.jobs.context import RunContext
from bot.jobs.controls import JobControls
from bot.jobs.leases import LeaseKeeper
from bot.jobs.member import for_member
from bot.jobs.reconcile import Reconciler
from bot.jobs.request import JobRequest
from bot.jobs.resume import JobResumer
from bot.jobs.run import JobRun
from bot.jobs.slots import SlotQueue
from bot.media.served import MediaStore
from bot.providers.base import Provider
from bot.providers.push import HookRegistry, HookServer, PushCapable
from bot.ui.edits import EditScheduler
from bot.ui.messenger import JobMessenger, StoredToken
from bot.ui.text import job_locale

log = logging.getLogger(__name__)

RESTARTING = N_("The bot is restarting. Please try again in a minute.")
# Network failures other than Discord's error answers (a dropped connection, a timeout).
CONNECTION_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


class JobService(JobControls, JobResumer):
    """Runs video jobs within the global and per-user limits.

    The buttons (Cancel, Retry) are in :class:`~bot.jobs.controls.JobControls`,
    resuming after a restart in :class:`~bot.jobs.resume.JobResumer`.

    ``on_refused`` is told the reason of each refused request (for metrics).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        provider: Provider,
        session: aiohttp.ClientSession,
        client: discord.Client,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.client = client
        self.tasks = TaskSet()
        self.runs: dict[int, JobRun] = {}
        self.closing = False
        self._on_refused = on_refused
        #: This process among those sharing the database: it holds the leases of its jobs.
        self.owner = owner_id()
        # One edit scheduler for every job's progress message (Discord's rate limits).
        self.edits = EditScheduler(settings.progress_interval, settings.edit_budget)
        self.context = RunContext(
            store=store,
            provider=provider,
            session=session,
            # JOBS_MAX_CONCURRENT and the queue hold across every process on the database.
            slots=SlotQueue(
                settings.max_concurrent_jobs,
                shared=store,
                poll=min(2.0, max(0.2, settings.job_lease_seconds / 10)),
            ),
            edits=self.edits,
            media=settings.provider,
            image_origins=tuple(filter(None, [settings.discord_api_base_url])),
            served=_media_store(settings),
        )
        self.hooks: HookRegistry | None = None
        self.hook_server: HookServer | None = None
        if settings.public_base_url and isinstance(provider, PushCapable):
            # Recorded in the database too: a call reaching another process wakes the job here.
            self.hooks = HookRegistry(settings.public_base_url, shared=store, owner=self.owner)
            provider.use_hooks(self.hooks)
        if settings.public_base_url:  # hook calls and/or videos too large for Discord
            self.hook_server = HookServer(
                self.hooks, settings.hook_host, settings.hook_port, media=self.context.served
            )
        served = self.context.served
        self.reconciler = Reconciler(
            store=store,
            unfinished=lambda: store.leased_jobs(self.owner),
            unsettled=self.context.unsettled,
            live=lambda: self.runs,
            resume=lambda ids: self.resume_unfinished(only=ids),
            interval=settings.reconcile_interval,
            chores=[served.purge] if served is not None else [],
        )
        self.leases = LeaseKeeper(
            store=store,
            owner=self.owner,
            seconds=settings.job_lease_seconds,
            runs=lambda: self.runs,
            resume=self.resume_jobs,
            wake=self.hooks.wake if self.hooks is not None else None,
        )

    async def open(self) -> None:
        """Open what the jobs need besides Discord: the public listener, the reconciler."""
        if self.context.served is not None:
            await asyncio.to_thread(self.context.served.open)
        if self.hook_server is not None:
            await self.hook_server.start()
        self.reconciler.start()
        self.leases.start()

    def ensure_accepting(self) -> None:
        """Refuse new work once shutdown has begun."""
        if self.closing:
            raise UserError(RESTARTING)

    # ------------------------------------------------------------------ new jobs

    async def accept(
        self, request: JobRequest, interaction: discord.Interaction | None = None
    ) -> Job:
        """Apply the operator's rules and reserve the job's credits atomically.

        The rules (prompt filter, blocks, channels, limits, extra credits, budget
        caps) and their refusal messages live in :mod:`bot.jobs.admission`.
        The job is held by this process's lease from the start; ``interaction``'s
        token is stored with it, for whichever process resumes it.
        """
        try:
            job = await admit(
                self.store,
                self.settings,
                request,
                protocol=self.provider.name,
                interaction_token=interaction.token if interaction is not None else None,
                application_id=interaction.application_id if interaction is not None else None,
            )
        except StoreError as exc:
            log.error("reserving a credit failed: %s", exc)
            raise UserError(
                msg(
                    "The bot could not record your request right now. Nothing was charged; "
                    "please try again in a minute."
                )
            ) from None
        await self._hold(job)
        return job

    async def launch(
        self, interaction: discord.Interaction, request: JobRequest, *, resolved: bool = False
    ) -> None:
        """Reserve the credit, answer publicly, remember the message, start the job.

        A refusal raises :class:`UserError` (nothing charged); a reply Discord
        does not accept refunds the job at once, and so does any other error
        before the job starts (nobody would ever run it). ``resolved`` requests
        already carry the member's roles and channel (a Retry outside its server).
        """
        if not resolved:
            request = for_member(request, interaction, self.settings.cost_table)
        try:
            job = await self.accept(request, interaction)
        except UserError as exc:
            if self._on_refused is not None:
                self._on_refused(exc.reason if isinstance(exc, Refusal) else "other")
            raise
        try:
            await self._answer_and_start(interaction, job, request)
        except BaseException as exc:
            if job.id in self.runs:
                raise
            log.warning("job %s: failed before it started (%r); refunding", job.id, exc)
            await asyncio.shield(self.refund(job, N_("The bot could not answer on Discord.")))
            if isinstance(exc, CONNECTION_ERRORS):
                raise UserError(
                    msg(
                        "Discord could not be reached to answer you. Nothing was charged; "
                        "please try again."
                    )
                ) from None
            raise

    async def _answer_and_start(
        self, interaction: discord.Interaction, job: Job, request: JobRequest
    ) -> None:
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning("job %s: could not defer (%s); refunding", job.id, exc)
            await self.refund(job, N_("Discord did not accept the reply in time."))
            return
        message_id: int | None = None
        try:
            message = await interaction.original_response()
        except discord.HTTPException as exc:  # not fatal: the job can still post a new message
            log.warning("job %s: could not read its message id: %s", job.id, exc)
        else:
            message_id = message.id
            # only resumability suffers when this cannot be recorded; the job runs on
            await ledger.record(self.store, job.id, message_id=message_id)
        log.info("job %s accepted for user %s", job.id, interaction.user.id)
        self.start(job, request, self.messenger(job, interaction, message_id=message_id))

    async def _hold(self, job: Job) -> None:
        """Take the new job's lease: no other process may claim it while this one lives.

        Without it (the database refused) the job is still safe: a job never
        leased is claimable only once older than a lease, by then long running here.
        """
        try:
            await self.store.take_lease(job.id, self.owner, self.settings.job_lease_seconds)
        except StoreError as exc:
            log.warning("job %s: could not take its lease: %s", job.id, exc)

    async def refund(self, job: Job, reason: str) -> None:
        """End an accepted job that never started (e.g. the defer failed)."""
        await ledger.settle(self.store, job.id, "failed", error=reason)

    def messenger(
        self,
        job: Job,
        interaction: discord.Interaction | None = None,
        *,
        message_id: int | None = None,
        claimed: bool = False,
    ) -> JobMessenger:
        """The job's message: the interaction's reply, or (after a restart) its stored ids.

        A resumed job (no ``interaction``) edits through the token stored with
        it while that lives: Discord's 15 minutes run from the interaction's
        creation, and the job was reserved after it, within the 3 s Discord
        gives the first answer (or it was refunded), which the messenger's
        ``TOKEN_MARGIN`` covers. ``claimed``: taken over from a process that died.
        """

        async def moved(channel_id: int, message_id: int) -> None:
            await self.store.update_job(job.id, channel_id=channel_id, message_id=message_id)

        token = None
        if job.interaction_token and job.application_id:
            token = StoredToken.issued(job.application_id, job.interaction_token, job.created_at)
        return JobMessenger(
            self.client,
            job_id=job.id,
            user_id=job.user_id,
            channel_id=job.channel_id,
            message_id=message_id if message_id is not None else job.message_id,
            interaction=interaction,
            token=token,
            claimed=claimed,
            on_moved=moved,
            locale=job_locale(job.options),
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
        run = JobRun(self.context, job, request, messenger, resume_task_id=resume_task_id)
        self.runs[job.id] = run
        task = run.launch(self.tasks)
        task.add_done_callback(lambda _: self.runs.pop(job.id, None))
        return task

    # ------------------------------------------------------------------ close

    async def close(self) -> None:
        """Stop: jobs that can be resumed are left for the next start, the rest settle."""
        self.closing = True
        await self.leases.stop()
        await self.reconciler.stop()
        await self.tasks.cancel_all(timeout=7.0)
        # After the runs paused: the next process (or another one now) resumes them at once.
        # A run still ending past the timeout may yet settle its job: that job keeps its
        # lease until it expires, so no other run takes it up meanwhile.
        ending = [job_id for job_id, run in self.runs.items() if not run.ended]
        await self.leases.release(keep=ending)
        await self.edits.close()
        if self.hook_server is not None:
            await self.hook_server.close()


def _media_store(settings: Settings) -> MediaStore | None:
    """Where videos too large for Discord are served from, when ``PUBLIC_BASE_URL`` is set."""
    if not settings.public_base_url:
        return None
    directory = settings.media_dir or str(Path(settings.database_path).resolve().parent / "media")
    return MediaStore(
        Path(directory),
        settings.public_base_url,
        ttl=settings.media_link_hours * 3600,
        max_bytes=settings.media_max_bytes,
    )
