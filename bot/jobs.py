"""The job service: accept (reserve a credit), queue, run on the provider, deliver, settle.

The Discord side is behind :class:`JobOutput`, so this module holds the rules
(a failed or cancelled job costs nothing, the credit is settled exactly once,
progress is coalesced) without knowing about interactions.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from bot.config import Settings
from bot.db import QuotaExceeded, Store, TooManyRunning
from bot.db.models import Job
from bot.images import ImageError, prepare_image_async
from bot.media import DownloadError, download_to_file
from bot.messages import failure_message, progress_message, success_message
from bot.progress import ProgressState, format_elapsed
from bot.providers.base import (
    Completed,
    Failed,
    ModelSpec,
    Orientation,
    PreparedImage,
    Progress,
    Provider,
    Queued,
    Submitted,
    VideoRequest,
)
from bot.providers.errors import ProviderAuthError, ProviderError, ProviderOutOfCredit
from bot.reporter import ThrottledEditor
from bot.slots import SlotQueue
from bot.tasks import TaskSet
from bot.validation import UserError

log = logging.getLogger(__name__)

RESTART_REASON = "The bot was restarted while making this video."


class JobOutput(Protocol):
    """Where a job's public message lives (an interaction reply, a channel message...)."""

    upload_limit: int

    async def edit(self, content: str) -> None:
        """Replace the progress message's text."""
        ...

    async def finish(self, content: str, video: Path | None) -> None:
        """Show the final result, with the mp4 attached when given."""
        ...


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

    @property
    def options(self) -> dict[str, object]:
        """The options as stored with the job."""
        return {
            "model": self.model.name,
            "duration": self.duration,
            "orientation": self.orientation,
            "hd": self.hd,
        }


class JobService:
    """Runs video jobs within the global and per-user limits."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        provider: Provider,
        session: aiohttp.ClientSession,
    ) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.session = session
        self.tasks = TaskSet()
        self._waiting: dict[int, _Run] = {}
        self.slots = SlotQueue(settings.max_concurrent_jobs, on_change=self._positions_changed)

    async def accept(self, request: JobRequest) -> Job:
        """Reserve one job's credit atomically; UserError when over quota or limits."""
        try:
            return await self.store.reserve(
                user_id=request.user_id,
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                prompt=request.prompt,
                options=request.options,
                image_url=request.image_url,
                protocol=self.provider.name,
                cost=1,
                daily_limit=self.settings.quota_per_day,
                max_running=self.settings.max_jobs_per_user,
            )
        except QuotaExceeded as exc:
            stamp = int(exc.resets_at.timestamp())
            raise UserError(
                f"You have used all {exc.limit} of your videos for today. "
                f"Your credits reset <t:{stamp}:R>."
            ) from None
        except TooManyRunning as exc:
            raise UserError(
                f"You already have {exc.running} video(s) in progress "
                f"(the limit is {exc.limit}). Please wait for one to finish."
            ) from None

    async def refund(self, job: Job, reason: str) -> None:
        """End an accepted job that never started (e.g. the defer failed)."""
        await self.store.settle(job.id, "failed", error=reason)

    def start(self, job: Job, request: JobRequest, output: JobOutput) -> asyncio.Task[None]:
        """Run ``job`` in the background; its message is updated through ``output``."""
        run = _Run(self, job, request, output)
        return self.tasks.spawn(run.main(), name=f"job:{job.id}")

    def _positions_changed(self) -> None:
        for run in list(self._waiting.values()):
            run.show_waiting()

    async def close(self) -> None:
        """Cancel running jobs (each settles itself) and wait for them."""
        await self.tasks.cancel_all(timeout=8.0)


class _Run:
    """One job's lifetime."""

    def __init__(self, service: JobService, job: Job, request: JobRequest, output: JobOutput):
        self.service = service
        self.job = job
        self.request = request
        self.output = output
        self.started = time.monotonic()
        self.editor = ThrottledEditor(
            output.edit, service.settings.progress_interval, name=f"job {job.id}"
        )
        self.percent: float | None = None

    def _show(self, state: ProgressState) -> None:
        state = ProgressState(
            state.stage,
            state.percent,
            state.status,
            state.position,
            time.monotonic() - self.started,
        )
        self.editor.update(
            progress_message(self.request.user_id, self.request.prompt, self.request.options, state)
        )

    def show_waiting(self) -> None:
        position = self.service.slots.position(self)
        if position is not None:
            self._show(ProgressState("waiting", position=position))

    async def main(self) -> None:
        store = self.service.store
        try:
            self.service._waiting[self.job.id] = self
            try:
                async with self.service.slots.slot(self):
                    self.service._waiting.pop(self.job.id, None)
                    await store.update_job(self.job.id, status="running", started_at=time.time())
                    await self._generate()
            finally:
                self.service._waiting.pop(self.job.id, None)
        except asyncio.CancelledError:
            await asyncio.shield(self._fail(RESTART_REASON, log_reason="cancelled at shutdown"))
            raise
        except Exception:
            log.exception("job %s crashed", self.job.id)
            await self._fail("Something went wrong inside the bot while making this video.")
        finally:
            await self.editor.close()

    async def _generate(self) -> None:
        self._show(ProgressState("queued", status="preparing the image"))
        try:
            image = await self._image()
        except UserError as exc:
            await self._fail(str(exc))
            return
        request = VideoRequest(
            prompt=self.request.prompt,
            image=image,
            duration=self.request.duration,
            orientation=self.request.orientation,
            model=self.request.model.name,
            hd=self.request.hd,
        )
        async for event in self.service.provider.generate(request):
            if isinstance(event, Submitted):
                await self.service.store.update_job(
                    self.job.id, status="running", provider_task_id=event.task_id
                )
            elif isinstance(event, Queued):
                self._show(ProgressState("queued", status=event.status, position=event.position))
            elif isinstance(event, Progress):
                if event.percent is not None:
                    self.percent = event.percent
                self._show(ProgressState("generating", self.percent, event.status))
            elif isinstance(event, Completed):
                await self._complete(event)
                return
            elif isinstance(event, Failed):
                await self._provider_failed(event.error)
                return
        await self._fail("The video service stopped answering.", log_reason="no end event")

    async def _image(self) -> PreparedImage:
        """Download the attachment (bounded) and fit it to the video size off the loop."""
        settings = self.service.settings.provider
        spec = self.request.model
        with tempfile.TemporaryDirectory(prefix="sora-img-") as tmp:
            path = Path(tmp) / "input"
            try:
                await download_to_file(
                    self.service.session,
                    self.request.image_url,
                    path,
                    max_bytes=settings.image_max_bytes,
                    timeout=60,
                )
            except DownloadError as exc:
                raise UserError(f"The bot could not download your image: {exc}.") from None
            data = await asyncio.to_thread(path.read_bytes)
        try:
            return await prepare_image_async(
                data,
                spec.size(self.request.orientation, self.request.hd),
                fit=settings.image_fit,
                max_bytes=settings.image_max_bytes,
                max_pixels=settings.image_max_pixels,
                source_url=self.request.image_url,
            )
        except ImageError as exc:
            raise UserError(str(exc)) from None

    async def _provider_failed(self, error: ProviderError) -> None:
        if isinstance(error, ProviderAuthError | ProviderOutOfCredit):
            log.error("job %s: provider refused the bot's account: %s", self.job.id, error)
        else:
            log.warning("job %s failed at the provider: %s", self.job.id, error)
        await self._fail(error.user_message, log_reason=str(error))

    async def _complete(self, result: Completed) -> None:
        self._show(ProgressState("finishing", 100.0, "uploading"))
        await self.service.store.settle(self.job.id, "completed", result_url=result.url)
        await self.editor.close()
        elapsed = format_elapsed(time.monotonic() - self.started)
        with tempfile.TemporaryDirectory(prefix="sora-video-") as tmp:
            video = await self._fetch_video(result, Path(tmp) / f"sora-{self.job.id}.mp4")
            content = success_message(
                self.request.user_id,
                self.request.prompt,
                self.request.options,
                url=result.url,
                attached=video is not None,
                elapsed=elapsed,
            )
            await self.output.finish(content, video)
        log.info("job %s completed in %s", self.job.id, elapsed)

    async def _fetch_video(self, result: Completed, dest: Path) -> Path | None:
        """The mp4 on disk when it fits the upload limit, else None (shared as a link)."""
        limit = self.output.upload_limit
        if result.content is not None:
            if len(result.content) > limit:
                return None
            await asyncio.to_thread(dest.write_bytes, result.content)
            return dest
        assert result.url is not None
        try:
            await download_to_file(self.service.session, result.url, dest, max_bytes=limit)
        except DownloadError as exc:
            log.info("job %s: video not attached: %s", self.job.id, exc)
            return None
        return dest

    async def _fail(self, reason: str, *, log_reason: str | None = None) -> None:
        """Refund (exactly once) and tell the member why."""
        ended = await self.service.store.settle(self.job.id, "failed", error=reason)
        if not ended:
            return
        log.info("job %s failed: %s", self.job.id, log_reason or reason)
        await self.editor.close()
        content = failure_message(
            self.request.user_id, self.request.prompt, self.request.options, reason
        )
        try:
            await asyncio.wait_for(self.output.finish(content, None), timeout=10)
        except Exception as exc:
            log.warning("job %s: could not show the failure: %s", self.job.id, exc)
