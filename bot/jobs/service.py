"""The job service: launch (reserve a credit, answer, start), resume after a restart, cancel.

A job's own lifetime (slot, provider, delivery, settlement) is in
:mod:`bot.jobs.run`; this module decides which jobs run and owns their tasks.
The cogs and buttons call it; it is the only caller of the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Collection
from pathlib import Path

import aiohttp
import discord

from bot.config import Settings
from bot.db import Store, StoreError
from bot.db.models import Job
from bot.errors import Refusal, UserError
from bot.jobs import ledger
from bot.jobs.admission import admit
from bot.jobs.background import TaskSet
from bot.jobs.context import RunContext
from bot.jobs.member import for_member
from bot.jobs.reconcile import Reconciler
from bot.jobs.request import JobRequest, request_from_job
from bot.jobs.run import JobRun
from bot.jobs.slots import SlotQueue
from bot.media.served import MediaStore
from bot.providers.base import Provider
from bot.providers.push import HookRegistry, HookServer, PushCapable
from bot.providers.registry import resumes_here
from bot.rules.access import may_manage
from bot.ui.buttons import confirm_view
from bot.ui.edits import EditScheduler
from bot.ui.messenger import JobMessenger
from bot.ui.text import cancel_confirmation, failure_message

log = logging.getLogger(__name__)

RESTARTING = "The bot is restarting. Please try again in a minute."
FINISHED = "This video has already finished."
CANCELLED = "Cancelled. The credit was refunded."
CANCELLED_KEPT = "Cancelled. The video had already been sent to the provider: no refund."
NOT_YOURS = "Only the member who asked for this video, or a server manager, can cancel it."
IN_ITS_SERVER = "Please press Retry in the server where the video was made."
NOT_A_MEMBER = "You are no longer a member of the server where this video was made."
# Network failures other than Discord's error answers (a dropped connection, a timeout).
CONNECTION_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


@dataclasses.dataclass(frozen=True, slots=True)
class ConfirmCancel:
    """The job was sent to the provider: ask before cancelling it (no refund then)."""

    job_id: int
    own: bool  # the clicker asked for the video (else a manager cancels someone's)


class JobService:
    """Runs video jobs within the global and per-user limits.

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
        # One edit scheduler for every job's progress message (Discord's rate limits).
        self.edits = EditScheduler(settings.progress_interval, settings.edit_budget)
        self.context = RunContext(
            store=store,
            provider=provider,
            session=session,
            slots=SlotQueue(settings.max_concurrent_jobs),
            edits=self.edits,
            media=settings.provider,
            image_origins=tuple(filter(None, [settings.discord_api_base_url])),
            served=_media_store(settings),
        )
        self.hooks: HookRegistry | None = None
        self.hook_server: HookServer | None = None
        if settings.public_base_url and isinstance(provider, PushCapable):
            self.hooks = HookRegistry(settings.public_base_url)
            provider.use_hooks(self.hooks)
        if settings.public_base_url:  # hook calls and/or videos too large for Discord
            self.hook_server = HookServer(
                self.hooks, settings.hook_host, settings.hook_port, media=self.context.served
            )
        served = self.context.served
        self.reconciler = Reconciler(
            store=store,
            unsettled=self.context.unsettled,
            live=lambda: self.runs,
            resume=lambda ids: self.resume_unfinished(only=ids),
            interval=settings.reconcile_interval,
            chores=[served.purge] if served is not None else [],
        )

    async def open(self) -> None:
        """Open what the jobs need besides Discord: the public listener, the reconciler."""
        if self.context.served is not None:
            await asyncio.to_thread(self.context.served.open)
        if self.hook_server is not None:
            await self.hook_server.start()
        self.reconciler.start()

    def ensure_accepting(self) -> None:
        """Refuse new work once shutdown has begun."""
        if self.closing:
            raise UserError(RESTARTING)

    # ------------------------------------------------------------------ new jobs

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
            job = await self.accept(request)
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
            await asyncio.shield(self.refund(job, "The bot could not answer on Discord."))
            if isinstance(exc, CONNECTION_ERRORS):
                raise UserError(
                    "Discord could not be reached to answer you. Nothing was charged; "
                    "please try again."
                ) from None
            raise

    async def _answer_and_start(
        self, interaction: discord.Interaction, job: Job, request: JobRequest
    ) -> None:
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning("job %s: could not defer (%s); refunding", job.id, exc)
            await self.refund(job, "Discord did not accept the reply in time.")
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

    async def retry(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Retry button: the same image and options as a new job, with the usual checks.

        The rules of the job's server apply wherever the button is pressed: in
        that server with the clicker's roles there; in a DM (where the bot may
        have posted the result) with the member's roles fetched from the
        server, in the job's channel; in another server not at all.
        """
        job = await self.store.get_job(job_id)
        if job is None:
            raise UserError("That video no longer exists.")
        if job.user_id != interaction.user.id:
            raise UserError("Only the member who asked for this video can retry it.")
        if job.status not in ("failed", "cancelled"):
            raise UserError("Only a failed or cancelled video can be retried.")
        self.ensure_accepting()
        request = request_from_job(job, self.provider.capabilities)
        if job.guild_id is None or interaction.guild_id == job.guild_id:
            channel_id = interaction.channel_id or job.channel_id
            await self.launch(interaction, dataclasses.replace(request, channel_id=channel_id))
            return
        if interaction.guild_id is not None:
            raise UserError(IN_ITS_SERVER)
        request = await self._in_its_server(job, request)
        await self.launch(interaction, request, resolved=True)

    async def _in_its_server(self, job: Job, request: JobRequest) -> JobRequest:
        """``request`` with the member's roles in the job's server, fetched from Discord."""
        assert job.guild_id is not None
        guild = self.client.get_guild(job.guild_id)
        if guild is None:
            raise UserError(IN_ITS_SERVER)
        try:
            # fetched, never cached: the roles (and membership) as they are now
            member = await guild.fetch_member(job.user_id)
        except discord.NotFound:
            raise Refusal("member", NOT_A_MEMBER) from None
        except discord.HTTPException as exc:
            log.warning("job %s: could not fetch the member for a Retry: %s", job.id, exc)
            raise UserError(IN_ITS_SERVER) from None
        channel = self.client.get_channel(job.channel_id)
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        return dataclasses.replace(
            request,
            role_ids=tuple(role.id for role in member.roles),
            parent_channel_id=parent,
            channel_id=job.channel_id,
        )

    async def refund(self, job: Job, reason: str) -> None:
        """End an accepted job that never started (e.g. the defer failed)."""
        await ledger.settle(self.store, job.id, "failed", error=reason)

    def messenger(
        self,
        job: Job,
        interaction: discord.Interaction | None = None,
        *,
        message_id: int | None = None,
    ) -> JobMessenger:
        """The job's message: the interaction's reply, or (after a restart) its stored ids."""

        async def moved(channel_id: int, message_id: int) -> None:
            await self.store.update_job(job.id, channel_id=channel_id, message_id=message_id)

        return JobMessenger(
            self.client,
            job_id=job.id,
            user_id=job.user_id,
            channel_id=job.channel_id,
            message_id=message_id if message_id is not None else job.message_id,
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
        run = JobRun(self.context, job, request, messenger, resume_task_id=resume_task_id)
        self.runs[job.id] = run
        task = run.launch(self.tasks)
        task.add_done_callback(lambda _: self.runs.pop(job.id, None))
        return task

    # ------------------------------------------------------------------ restarts

    async def resume_unfinished(self, only: Collection[int] | None = None) -> int:
        """Carry on every job that had not ended when the bot stopped; returns how many.

        ``only`` limits it to those job ids (the reconciler's strays). A job a run
        of this process owns, or whose settlement waits for the reconciler, is skipped.
        """
        resumable = self.provider.capabilities.resumable
        carried = 0
        for job in await self.store.unfinished_jobs():
            if job.id in self.runs or job.id in self.context.unsettled:
                continue
            if only is not None and job.id not in only:
                continue
            messenger = self.messenger(job)
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
            content = f"❌ <@{job.user_id}>, your video could not be finished: {reason}"
        try:
            await asyncio.wait_for(messenger.finish(content, None, "retry"), 30)
        except Exception as exc:
            log.warning("job %s: could not tell the member: %s", job.id, exc)

    # ------------------------------------------------------------------ cancel, close

    async def cancel(
        self,
        job_id: int,
        *,
        by: int,
        can_manage: bool = False,
        guild_id: int | None = None,
        owner: bool = False,
        confirmed: bool = False,
    ) -> str | ConfirmCancel:
        """Cancel a job for member ``by``; returns what to tell them, or a question.

        Someone else's job may be cancelled by a bot ``owner``, or by a member
        who ``can_manage`` the server ``guild_id`` where they pressed the button,
        if the job is of that server. Before the job was sent to the provider a
        Cancel is refunded. Once sent (the provider bills it, and the ``chat``
        and ``generations`` protocols cannot even stop it) the first click gets
        a :class:`ConfirmCancel` back, and the ``confirmed`` one ends it without
        a refund.
        """
        job = await self.store.get_job(job_id)
        if job is None:
            return "That video no longer exists."
        manager = owner or (can_manage and guild_id is not None and guild_id == job.guild_id)
        if by != job.user_id and not manager:
            return NOT_YOURS
        if job.is_final:
            return FINISHED
        run = self.runs.get(job_id)
        billable = job.submitted_at is not None or (run is not None and run.billable)
        if billable and not confirmed:
            return ConfirmCancel(job_id, own=by == job.user_id)
        done = CANCELLED_KEPT if billable else CANCELLED
        if run is not None:  # the run settles itself; an ended one only has its message to go
            return done if run.request_cancel(by, keep_credit=billable) else FINISHED
        refund = not billable
        if await ledger.settle(self.store, job_id, "cancelled", error="cancelled", refund=refund):
            return done
        return FINISHED

    async def cancel_click(
        self, interaction: discord.Interaction, job_id: int, *, confirmed: bool
    ) -> None:
        """A Cancel (or its confirmation) button: check who and where, then answer privately."""
        permissions = interaction.permissions if interaction.guild_id is not None else None
        answer = await self.cancel(
            job_id,
            by=interaction.user.id,
            can_manage=may_manage((), interaction.user.id, permissions),
            guild_id=interaction.guild_id,
            owner=interaction.user.id in self.settings.owner_ids,
            confirmed=confirmed,
        )
        if isinstance(answer, ConfirmCancel):
            await interaction.response.send_message(
                cancel_confirmation(answer.own), view=confirm_view(job_id), ephemeral=True
            )
        elif confirmed:  # the answer replaces the question (and its button)
            await interaction.response.edit_message(content=answer, view=None)
        else:
            await interaction.response.send_message(answer, ephemeral=True)

    async def close(self) -> None:
        """Stop: jobs that can be resumed are left for the next start, the rest settle."""
        self.closing = True
        await self.reconciler.stop()
        await self.tasks.cancel_all(timeout=7.0)
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
