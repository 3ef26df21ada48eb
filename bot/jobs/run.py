"""One job's lifetime: wait for a slot, run (or resume) at the provider, deliver, settle.

The rules that protect members and the operator live here: a credit is settled
exactly once (kept on success, refunded on failure or cancel, always through
:func:`bot.jobs.ledger.settle`); a job is never submitted twice; on shutdown a
job that can be resumed is left running at the provider (and picked up again
on start) instead of being failed. A Cancel is a request the run acts on
(:meth:`JobRun.request_cancel`), never a change made to it from outside.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import discord

from bot.db import Job
from bot.db.models import FinalStatus
from bot.errors import BotError, user_message
from bot.i18n import N_, t
from bot.jobs import delivery, ledger, pipeline
from bot.jobs.background import TaskSet
from bot.jobs.context import RunContext
from bot.jobs.request import JobRequest
from bot.ops.logs import job_context
from bot.providers.base import Completed, Event, VideoRequest
from bot.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderOutOfCredit,
    ProviderTimeout,
    refused_submission,
)
from bot.ui.buttons import Buttons
from bot.ui.messenger import DeliveryFailed, JobMessenger
from bot.ui.progress import ProgressState, format_elapsed
from bot.ui.text import failure_message, progress_message, success_message

log = logging.getLogger(__name__)

CRASHED = N_("Something went wrong inside the bot while making this video.")
FINAL_GRACE = 5.0  # on shutdown, how long a job's ending under way may still take


class JobRun:
    """Runs one job; ``resume_task_id`` polls an already submitted job instead of submitting."""

    def __init__(
        self,
        ctx: RunContext,
        job: Job,
        request: JobRequest,
        messenger: JobMessenger,
        *,
        resume_task_id: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.job = job
        self.request = request
        self.messenger = messenger
        self.task_id = resume_task_id
        self.submitting = False  # a POST may be in flight: the job may exist at the provider
        self.task: asyncio.Task[None] | None = None
        self.percent: float | None = None
        self._cancel_by: int | None = None
        self._cancel_keeps_credit = False  # a confirmed Cancel of a job the provider bills
        self._settled = False  # the ledger has the job's end: nothing is left to suspend
        self._ending_now = False  # its end (settle, last message) is under way: too late to cancel
        self.editor = ctx.edits.handle(self._edit_progress, messenger, name=f"job {job.id}")
        # The final message and every fallback request draw on the progress budgets, first.
        messenger.pacer = self.editor

    @property
    def settled(self) -> bool:
        """Whether the ledger has the job's end (only its last message may be on its way)."""
        return self._settled

    def launch(self, tasks: TaskSet) -> asyncio.Task[None]:
        """Start the job in the background, owned by ``tasks``; every log line carries its id."""
        with job_context(self.job.id):
            self.task = tasks.spawn(self.main(), name=f"job:{self.job.id}")
        return self.task

    @property
    def billable(self) -> bool:
        """Whether the job was (or is being) sent to the provider, which bills it from then."""
        return self.submitting or self.task_id is not None

    @property
    def ended(self) -> bool:
        """Whether the run's task is over (or never started): it will settle nothing more."""
        return self.task is None or self.task.done()

    def request_cancel(self, by: int, *, keep_credit: bool = False) -> bool:
        """Ask the run to stop for member ``by``; False when it has already ended.

        The run settles the job itself (refund, provider cancel, message) as it
        unwinds, so a cancel racing the job's own end is settled only once.
        ``keep_credit`` (a Cancel confirmed after the job was sent) ends it
        without a refund.
        """
        if self._settled or self._ending_now or self.task is None or self.task.done():
            return False
        self._cancel_by = by
        self._cancel_keeps_credit = keep_credit
        self.task.cancel()
        return True

    # ------------------------------------------------------------------ display

    async def _edit_progress(self, content: str) -> None:
        await self.messenger.edit(content, "cancel", prepaid=True)

    @property
    def elapsed(self) -> float:
        """Seconds since the member asked (survives restarts)."""
        return (discord.utils.utcnow() - self.job.created_at).total_seconds()

    def show(self, state: ProgressState) -> None:
        """Queue a progress edit (coalesced and throttled)."""
        if state.stage == "generating" and state.percent is not None:
            self.percent = state.percent
        state = ProgressState(
            state.stage, state.percent, state.status, state.position, self.elapsed
        )
        r = self.request
        self.editor.update(progress_message(r.user_id, r.prompt, r.options, state))

    def _waiting_at(self, position: int) -> None:
        self.show(ProgressState("waiting", position=position))

    async def submitted(self, task_id: str, provider: str | None = None) -> None:
        """The provider took the job: remember its task id (and which provider) first."""
        self.task_id = task_id
        await ledger.record(
            self.ctx.store,
            self.job.id,
            status="running",
            provider_task_id=task_id,
            provider=provider,
            critical=True,
        )
        self.submitting = False

    async def _final(
        self, content: str, buttons: Buttons, video: Path | None = None, **kw: Any
    ) -> None:
        await self.editor.close()
        # Not bounded as a whole: each request is (the messenger's REQUEST_TIMEOUT), and
        # waiting for the rate budget is bounded by the budgets; a shutdown cuts it short.
        try:
            await self.messenger.finish(content, video, buttons, **kw)
        except (DeliveryFailed, discord.HTTPException, TimeoutError) as exc:
            log.error("job %s: could not deliver the final message: %s", self.job.id, exc)

    # ------------------------------------------------------------------ lifetime

    async def main(self) -> None:
        """The whole job; never raises except CancelledError."""
        try:
            slot = self.ctx.slots.slot(self, on_position=self._waiting_at, job_id=self.job.id)
            async with slot:
                await ledger.record(
                    self.ctx.store, self.job.id, status="running", started_at=discord.utils.utcnow()
                )
                await self._follow(self._events())
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupted())
            raise
        except BotError as exc:
            await self._fail(exc.localized(self.request.locale))
        except Exception:
            log.exception("job %s crashed", self.job.id)
            await self._fail(CRASHED)
        finally:
            await self.editor.close()

    def _events(self) -> AsyncIterator[Event]:
        if self.task_id is not None:
            self.show(ProgressState("generating", status="resuming after a restart"))
            return self.ctx.provider.resume(self.task_id)
        return self._submit()

    async def _submit(self) -> AsyncIterator[Event]:
        self.show(ProgressState("queued", status="preparing the image"))
        r, media = self.request, self.ctx.media
        raw = await pipeline.download_image(
            self.ctx.session,
            r.image_url,
            max_bytes=media.image_max_bytes,
            trusted_origins=self.ctx.image_origins,
        )
        image = await pipeline.prepare(
            raw, r.model, r.orientation, r.hd, media, source_url=r.image_url
        )
        del raw
        request = VideoRequest(
            prompt=r.prompt,
            image=image,
            duration=r.duration,
            orientation=r.orientation,
            model=r.model.name,
            hd=r.hd,
        )
        # Billable from here: record it durably before the request leaves, and never
        # send a job whose submission could not be recorded (nor one marked before).
        self.submitting = True
        try:
            await ledger.mark_submitting(self.ctx.store, self.job.id)
        except ledger.NotMarked:
            self.submitting = False
            raise
        events = self.ctx.provider.generate(request)
        del image, request  # the image is not needed (nor kept) while the job renders
        async for event in events:
            yield event

    async def _follow(self, events: AsyncIterator[Event]) -> None:
        try:
            end = await pipeline.follow(events, self)
        except pipeline.StreamEnded as exc:
            await self._fail(exc.localized(self.request.locale))
            return
        if isinstance(end, Completed):
            await self._complete(end)
        else:
            await self._provider_failed(end.error)

    # ------------------------------------------------------------------ endings

    async def _complete(self, result: Completed) -> None:
        self.show(ProgressState("finishing", 100.0, "fetching the video"))
        with tempfile.TemporaryDirectory(prefix="sora-video-") as tmp:
            dest = Path(tmp) / f"sora-{self.job.id}.mp4"
            try:
                got = await delivery.prepare(
                    self.ctx,
                    result,
                    dest,
                    upload_limit=self.messenger.upload_limit,
                    job_id=self.job.id,
                )
            except delivery.Undeliverable as exc:  # never charged for a video it cannot get
                await self._fail(exc.localized(self.request.locale))
                return
            await self._ending(self._completed(result, got))

    async def _completed(self, result: Completed, got: delivery.Delivery) -> None:
        """Keep the credit, then deliver the video (or its link)."""
        if not await self._settle("completed", result_url=result.url):
            return
        r = self.request
        locale = r.locale
        elapsed = format_elapsed(self.elapsed, locale)
        hours = got.served_hours
        note = ""
        if hours is not None:
            note = "\n" + t(locale, "The link works for {hours} hours.", hours=f"{hours:g}")

        def render(with_file: bool) -> str:
            return success_message(
                r.user_id, r.prompt, r.options, url=got.url, attached=with_file, elapsed=elapsed
            ) + ("" if with_file else note)

        await self._final(
            render(got.video is not None), None, got.video, without_video=render(False)
        )
        log.info("job %s completed in %s", self.job.id, elapsed)

    async def _ending(self, end: Coroutine[Any, Any, None]) -> None:
        """Settle and tell the member as one step that a shutdown cannot cut in two.

        Cancelled midway, the ledger could say the job ended while its message still
        says it runs, and nothing would ever resume it: so ``end`` runs on (within
        ``close()``'s grace period) before the cancellation goes on.
        """
        if self._cancel_by is not None:
            # A Cancel was accepted (its member was told so), but its interruption never
            # reached this far: a library may report a cancelled request as a timeout and
            # the job carries on. The member's word stands: end it as cancelled.
            end.close()
            raise asyncio.CancelledError
        self._ending_now = True  # a Cancel now would be told it worked, yet not be honoured
        task = asyncio.ensure_future(end)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await asyncio.wait([task], timeout=FINAL_GRACE)
            finally:
                task.cancel()  # overran the grace period: give up (no-op once done)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("job %s: ending it failed: %r", self.job.id, task.exception())
            raise

    async def _provider_failed(self, error: ProviderError) -> None:
        if isinstance(error, ProviderAuthError | ProviderOutOfCredit):
            log.error("job %s: the provider refused the bot's account: %s", self.job.id, error)
        else:
            log.warning("job %s failed at the provider: %s", self.job.id, error)
        if isinstance(error, ProviderTimeout):  # abandoned: stop it rendering (and billing) on
            await self._cancel_at_provider()
        # Answered with a refusal before it had an id: the provider never took (or
        # billed) the job, so it leaves the operator's spend too.
        refused = self.task_id is None and refused_submission(error)
        await self._ending(
            self._failed(user_message(error, self.request.locale) or CRASHED, refused=refused)
        )

    async def _fail(self, reason: str) -> None:
        """Refund (exactly once) and tell the member why, with a Retry button."""
        await self._ending(self._failed(reason))

    async def _failed(
        self,
        reason: str,
        status: FinalStatus = "failed",
        *,
        refund: bool = True,
        refused: bool = False,
    ) -> None:
        error = reason if status == "failed" else "cancelled"
        if not await self._settle(status, error=error, refund=refund, refused=refused):
            return
        log.info("job %s %s: %s", self.job.id, status, reason)
        r = self.request
        text = failure_message(r.user_id, r.prompt, r.options, reason, refunded=refund)
        await self._final(text, "retry")

    async def _interrupted(self) -> None:
        """Cancelled: by a member, or by shutdown (suspend what can be resumed)."""
        if self._settled:  # it had already ended; _ending saw to its last message
            return
        if self._cancel_by is not None:
            await self._cancel_at_provider()
            refund = not self._cancel_keeps_credit
            who = f"<@{self._cancel_by}>"
            reason = t(self.request.locale, "Cancelled by {member}.", member=who)
            await self._failed(reason, "cancelled", refund=refund)
            return
        resumable = self.ctx.provider.capabilities.resumable
        if self.task_id is not None and resumable:
            note = t(
                self.request.locale,
                "⏸ The bot is restarting. Your video keeps rendering and will be posted here.",
            )
        elif self.task_id is None and not self.submitting:
            await ledger.record(self.ctx.store, self.job.id, status="queued")
            note = t(
                self.request.locale,
                "⏸ The bot is restarting. Your video will start when it is back.",
            )
        else:
            await self._fail(ledger.RESTART_REASON)
            return
        await self.editor.close()
        r = self.request
        state = ProgressState("waiting", self.percent, "paused", elapsed=self.elapsed)
        content = progress_message(r.user_id, r.prompt, r.options, state) + "\n" + note
        try:
            await asyncio.wait_for(self.messenger.edit(content, None), 3)
        except (DeliveryFailed, discord.HTTPException, TimeoutError) as exc:
            log.info("job %s: could not show the pause: %s", self.job.id, exc)

    async def _cancel_at_provider(self) -> None:
        if self.task_id is None or not self.ctx.provider.capabilities.cancellable:
            return
        try:
            await asyncio.wait_for(self.ctx.provider.cancel(self.task_id), 5)
        except (TimeoutError, ProviderError) as exc:
            log.info("job %s: provider cancel failed: %s", self.job.id, exc)

    async def _settle(self, status: FinalStatus, **fields: Any) -> bool:
        ended = await ledger.settle(self.ctx.store, self.job.id, status, **fields)
        if ended is None:
            # The database refused every try: the reconciler settles it as recorded here,
            # and the member is told now rather than left with a job that seems to run.
            self.ctx.unsettled.add(ledger.Settlement(self.job.id, status, **fields))
            ended = True
        self._settled = True  # by this call or an earlier one: final either way
        return ended
