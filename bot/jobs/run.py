"""One job's lifetime: wait for a slot, run (or resume) at the provider, deliver, settle.

The rules that protect members and the operator live here: a credit is settled
exactly once (kept on success, refunded on failure or cancel); a job is never
submitted twice; on shutdown a job that can be resumed is left running at the
provider (and picked up again on start) instead of being failed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.db import Job, StoreError
from bot.errors import UserError
from bot.media.download import DownloadError, LinkExpired, TooLarge, download_to_file, is_http_url
from bot.media.images import ImageError, prepare_image_async
from bot.providers.base import (
    Completed,
    Event,
    Failed,
    PreparedImage,
    Progress,
    Queued,
    Submitted,
    VideoRequest,
)
from bot.providers.errors import ProviderAuthError, ProviderError, ProviderOutOfCredit
from bot.ui.buttons import Buttons
from bot.ui.messenger import DeliveryFailed, JobMessenger
from bot.ui.progress import ProgressState, format_elapsed
from bot.ui.text import failure_message, progress_message, success_message

if TYPE_CHECKING:
    from bot.jobs.service import JobRequest, JobService

log = logging.getLogger(__name__)

RESTART_REASON = (
    "The bot restarted while making this video, and this kind of job cannot be resumed."
)
SETTLE_TRIES = 5
MESSAGE_TIMEOUT = 10.0
FINAL_GRACE = 5.0  # on shutdown, how long a job's ending under way may still take


class JobRun:
    """Runs one job; ``resume_task_id`` polls an already submitted job instead of submitting."""

    def __init__(
        self,
        service: JobService,
        job: Job,
        request: JobRequest,
        messenger: JobMessenger,
        *,
        resume_task_id: str | None = None,
    ) -> None:
        self.service = service
        self.job = job
        self.request = request
        self.messenger = messenger
        self.task_id = resume_task_id
        self.resuming = resume_task_id is not None
        self.submitting = False  # a POST may be in flight: the job may exist at the provider
        self.cancelled_by: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.percent: float | None = None
        self.settled = False  # the ledger has the job's end: nothing is left to suspend
        self.editor = service.edits.handle(self._edit_progress, messenger, name=f"job {job.id}")

    # ------------------------------------------------------------------ display

    async def _edit_progress(self, content: str) -> None:
        await self.messenger.edit(content, "cancel")

    @property
    def elapsed(self) -> float:
        """Seconds since the member asked (survives restarts)."""
        return (discord.utils.utcnow() - self.job.created_at).total_seconds()

    def show(self, state: ProgressState) -> None:
        """Queue a progress edit (coalesced and throttled)."""
        state = ProgressState(
            state.stage, state.percent, state.status, state.position, self.elapsed
        )
        r = self.request
        self.editor.update(progress_message(r.user_id, r.prompt, r.options, state))

    def show_waiting(self) -> None:
        """Refresh the queue position while waiting for a slot."""
        position = self.service.slots.position(self)
        if position is not None:
            self.show(ProgressState("waiting", position=position))

    async def _final(
        self, content: str, buttons: Buttons, video: Path | None = None, **kw: Any
    ) -> None:
        await self.editor.close()
        try:
            await asyncio.wait_for(
                self.messenger.finish(content, video, buttons, **kw), MESSAGE_TIMEOUT * 3
            )
        except (DeliveryFailed, discord.HTTPException, TimeoutError) as exc:
            log.error("job %s: could not deliver the final message: %s", self.job.id, exc)

    # ------------------------------------------------------------------ lifetime

    async def main(self) -> None:
        """The whole job; never raises except CancelledError."""
        try:
            async with self.service.slots.slot(self):
                self.service.waiting.pop(self.job.id, None)
                await self._update(status="running", started_at=discord.utils.utcnow())
                await self._consume(self._events())
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupted())
            raise
        except UserError as exc:
            await self._fail(str(exc))
        except Exception:
            log.exception("job %s crashed", self.job.id)
            await self._fail("Something went wrong inside the bot while making this video.")
        finally:
            self.service.waiting.pop(self.job.id, None)
            await self.editor.close()

    def _events(self) -> AsyncIterator[Event]:
        if self.task_id is not None:
            self.show(ProgressState("generating", status="resuming after a restart"))
            return self.service.provider.resume(self.task_id)
        return self._submit()

    async def _submit(self) -> AsyncIterator[Event]:
        self.show(ProgressState("queued", status="preparing the image"))
        image = await self._image()
        request = VideoRequest(
            prompt=self.request.prompt,
            image=image,
            duration=self.request.duration,
            orientation=self.request.orientation,
            model=self.request.model.name,
            hd=self.request.hd,
        )
        self.submitting = True
        events = self.service.provider.generate(request)
        del image, request  # the image is not needed (nor kept) while the job renders
        async for event in events:
            yield event

    async def _consume(self, events: AsyncIterator[Event]) -> None:
        async for event in events:
            if isinstance(event, Submitted):
                self.task_id = event.task_id
                await self._update(status="running", provider_task_id=event.task_id, critical=True)
                self.submitting = False
            elif isinstance(event, Queued):
                self.show(ProgressState("queued", status=event.status, position=event.position))
            elif isinstance(event, Progress):
                if event.percent is not None:
                    self.percent = event.percent
                self.show(ProgressState("generating", self.percent, event.status))
            elif isinstance(event, Completed):
                await self._complete(event)
                return
            elif isinstance(event, Failed):
                await self._provider_failed(event.error)
                return
        await self._fail("The video service stopped answering.")

    async def _image(self) -> PreparedImage:
        """Download the member's attachment (bounded) and fit it to the video, off the loop."""
        settings = self.service.settings.provider
        url = self.request.image_url
        if not is_http_url(url):
            raise UserError("The image link is not valid.")
        with tempfile.TemporaryDirectory(prefix="sora-img-") as tmp:
            path = Path(tmp) / "input"
            try:
                await download_to_file(
                    self.service.session, url, path, max_bytes=settings.image_max_bytes, timeout=60
                )
            except DownloadError as exc:
                raise UserError(f"The bot could not download your image: {exc}.") from None
            data = await asyncio.to_thread(path.read_bytes)
        try:
            return await prepare_image_async(
                data,
                self.request.model.size(self.request.orientation, self.request.hd),
                fit=settings.image_fit,
                max_bytes=settings.image_max_bytes,
                max_pixels=settings.image_max_pixels,
                source_url=url,
            )
        except ImageError as exc:
            raise UserError(str(exc)) from None

    # ------------------------------------------------------------------ endings

    async def _complete(self, result: Completed) -> None:
        self.show(ProgressState("finishing", 100.0, "fetching the video"))
        if result.url is not None and not is_http_url(result.url):
            log.warning("job %s: provider returned a non-http(s) link; refused", self.job.id)
            await self._fail("The video service returned an invalid link.")
            return
        with tempfile.TemporaryDirectory(prefix="sora-video-") as tmp:
            video = Path(tmp) / f"sora-{self.job.id}.mp4"
            try:
                attached = await self._fetch(result, video)
            except LinkExpired as exc:
                log.warning("job %s: result link unusable: %s", self.job.id, exc)
                await self._fail(
                    "The finished video's link had expired before the bot could fetch it."
                )
                return
            await self._ending(self._completed(result, video if attached else None))

    async def _completed(self, result: Completed, video: Path | None) -> None:
        """Keep the credit, then deliver the video (or its link)."""
        if not await self._settle("completed", result_url=result.url):
            return
        r = self.request
        elapsed = format_elapsed(self.elapsed)

        def render(with_file: bool) -> str:
            return success_message(
                r.user_id, r.prompt, r.options, url=result.url, attached=with_file, elapsed=elapsed
            )

        await self._final(render(video is not None), None, video, without_video=render(False))
        log.info("job %s completed in %s", self.job.id, elapsed)

    async def _ending(self, end: Coroutine[Any, Any, None]) -> None:
        """Settle and tell the member as one step that a shutdown cannot cut in two.

        Cancelled midway, the ledger could say the job ended while its message still
        says it runs, and nothing would ever resume it: so ``end`` runs on (within
        ``close()``'s grace period) before the cancellation goes on.
        """
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

    async def _fetch(self, result: Completed, dest: Path) -> bool:
        """Put the mp4 at ``dest`` when it fits the upload limit; False to share the link only."""
        limit = self.messenger.upload_limit
        if result.file is not None:  # downloaded by the provider: move it, never copy it
            try:
                if result.file.stat().st_size > limit:
                    return False
                await asyncio.to_thread(shutil.move, result.file, dest)
                return True
            finally:
                result.file.unlink(missing_ok=True)
        if result.content is not None:
            if len(result.content) > limit:
                return False
            await asyncio.to_thread(dest.write_bytes, result.content)
            return True
        assert result.url is not None
        try:
            await download_to_file(self.service.session, result.url, dest, max_bytes=limit)
        except TooLarge:
            return False
        except LinkExpired:
            raise
        except DownloadError as exc:  # a network hiccup: the link still goes out
            log.warning("job %s: video not attached: %s", self.job.id, exc)
            return False
        return True

    async def _provider_failed(self, error: ProviderError) -> None:
        if isinstance(error, ProviderAuthError | ProviderOutOfCredit):
            log.error("job %s: the provider refused the bot's account: %s", self.job.id, error)
        else:
            log.warning("job %s failed at the provider: %s", self.job.id, error)
        await self._fail(error.user_message)

    async def _fail(self, reason: str) -> None:
        """Refund (exactly once) and tell the member why, with a Retry button."""
        await self._ending(self._failed(reason))

    async def _failed(self, reason: str) -> None:
        if not await self._settle("failed", error=reason):
            return
        log.info("job %s failed: %s", self.job.id, reason)
        r = self.request
        await self._final(failure_message(r.user_id, r.prompt, r.options, reason), "retry")

    async def _interrupted(self) -> None:
        """Cancelled: by a member, or by shutdown (suspend what can be resumed)."""
        if self.settled:  # it had already ended; _ending saw to its last message
            return
        if self.cancelled_by is not None:
            await self._cancel_at_provider()
            if await self._settle("cancelled", error="cancelled"):
                r = self.request
                reason = f"Cancelled by <@{self.cancelled_by}>."
                await self._final(failure_message(r.user_id, r.prompt, r.options, reason), "retry")
            return
        resumable = self.service.provider.capabilities.resumable
        if self.task_id is not None and resumable:
            note = "⏸ The bot is restarting. Your video keeps rendering and will be posted here."
        elif self.task_id is None and not self.submitting:
            await self._update(status="queued")
            note = "⏸ The bot is restarting. Your video will start when it is back."
        else:
            await self._fail(RESTART_REASON)
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
        if self.task_id is None or not self.service.provider.capabilities.cancellable:
            return
        try:
            await asyncio.wait_for(self.service.provider.cancel(self.task_id), 5)
        except (TimeoutError, ProviderError) as exc:
            log.info("job %s: provider cancel failed: %s", self.job.id, exc)

    # ------------------------------------------------------------------ storage

    async def _settle(self, status: str, **kwargs: Any) -> bool:
        """End the job in the ledger, retrying a busy or failing database a few times."""
        for attempt in range(SETTLE_TRIES):
            try:
                ended = await self.service.store.settle(self.job.id, status, **kwargs)  # type: ignore[arg-type]
            except StoreError as exc:
                log.warning("job %s: settling failed (%s), try %d", self.job.id, exc, attempt + 1)
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                self.settled = True  # by this call or an earlier one: final either way
                return ended
        log.error("job %s: could not be settled; it will be reconciled on restart", self.job.id)
        return False

    async def _update(self, *, critical: bool = False, **kwargs: Any) -> None:
        """Record progress; a failing database only loses resumability, never the job."""
        for attempt in range(SETTLE_TRIES if critical else 1):
            try:
                await self.service.store.update_job(self.job.id, **kwargs)
                return
            except StoreError as exc:
                log.warning("job %s: could not record %s: %s", self.job.id, sorted(kwargs), exc)
                if critical:
                    await asyncio.sleep(0.2 * 2**attempt)
