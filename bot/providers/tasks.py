"""What the task protocols (generations, videos, openrouter) share.

Each submits one request, gets a job id back, then polls ``{path}/{id}`` until
the job ends; a restart resumes the poll from the stored id. The base class
here holds that path; a protocol supplies its submit, its status reader and,
where the protocol has one, its cancel call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import (
    Capabilities,
    Event,
    Failed,
    PreparedImage,
    Queued,
    Submitted,
    VideoRequest,
)
from bot.providers.content import MAX_VIDEO_BYTES, fetch_content
from bot.providers.errors import ProviderError, ProviderProtocolError
from bot.providers.http import JSONResponse, ProviderHTTP
from bot.providers.normalize import find_task_id, normalize_status, unwrap_envelope
from bot.providers.polling import StatusReader, poll_job, unfinished_event
from bot.providers.push import Hook, HookRegistry


def status_label(raw: object) -> str:
    """A status value as a lower-case label (``""`` when there is none)."""
    return str(raw).strip().lower() if raw is not None else ""


def warn_image_size(
    logger: logging.Logger, image: PreparedImage, expected: tuple[int, int]
) -> None:
    """Log when the member's prepared image is not the size the video will be."""
    if (image.width, image.height) != expected:
        logger.warning(
            "input image is %dx%d, provider expects %dx%d", image.width, image.height, *expected
        )


def task_status_reader(
    job: str,
    logger: logging.Logger,
    *,
    succeeded: Callable[[dict[str, Any]], Awaitable[Event]],
    failed: Callable[[dict[str, Any]], Event],
) -> StatusReader:
    """A status reader for the task vocabulary: queued, running..., succeeded or failed.

    ``succeeded`` and ``failed`` turn the (unwrapped) task object into the end
    event; every other status is :func:`unfinished_event`'s to judge.
    """
    unknown: set[str] = set()

    async def read(answer: dict[str, Any]) -> Event | None:
        data = unwrap_envelope(answer)
        raw = data.get("status")
        state = normalize_status(raw)
        if state == "queued":
            return Queued(status=status_label(raw))
        if state == "succeeded":
            return await succeeded(data)
        if state == "failed":
            return failed(data)
        return unfinished_event(state, raw, data, job, unknown, logger)

    return read


class TaskProvider:
    """Submit, then poll a job id: the part of a task protocol that is the same for all.

    Subclasses set :attr:`name`, :attr:`path`, :attr:`id_name` and
    :attr:`capabilities`, and implement :meth:`submit` and :meth:`status_reader`.
    """

    name = "task"
    id_name = "task"  # what the protocol calls the id, for error messages
    path = ""
    capabilities: Capabilities

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ProviderSettings,
        *,
        max_video_bytes: int = MAX_VIDEO_BYTES,
    ) -> None:
        self.settings = settings
        self.max_video_bytes = max_video_bytes  # a downloaded result larger than this fails
        self.http = ProviderHTTP(session, settings)
        self.hooks: HookRegistry | None = None
        self.log = logging.getLogger(type(self).__module__)

    def job_path(self, task_id: str) -> str:
        """The URL path of one job."""
        return f"{self.path}/{quote(task_id, safe='')}"

    async def fetch_job_content(
        self, task_id: str, gone: str, params: Mapping[str, str] | None = None
    ) -> Event:
        """A finished job's ``/content`` (the mp4, or a JSON link) through :func:`fetch_content`.

        ``gone`` is the failure reason when the provider no longer has the file.
        """
        return await fetch_content(
            self.http,
            self.job_path(task_id) + "/content",
            f"{self.name} job {task_id}",
            gone=gone,
            max_bytes=self.max_video_bytes,
            params=params,
        )

    async def submit(self, request: VideoRequest, hook: Hook | None) -> tuple[JSONResponse, str]:
        """Send ``request``; returns the provider's answer and a log detail of what was sent."""
        raise NotImplementedError

    def status_reader(self, task_id: str) -> StatusReader:
        """The reader of one job's status answers."""
        raise NotImplementedError

    def pace(self, headers: Mapping[str, str]) -> float | None:
        """A polling hint from an answer's headers; none unless the protocol has one."""
        return None

    def issue_hook(self) -> Hook | None:
        """A push hook for one job, when push is on (:attr:`hooks`)."""
        return self.hooks.issue() if self.hooks is not None else None

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Submit ``request``, then poll it: Submitted, Queued/Progress..., one end event.

        With push on the job's own hook wakes the poller when the provider calls
        it; the hook is retired when the job's events end.
        """
        hook = self.issue_hook()
        events = self._generate(request, hook)
        del request  # only _generate needs it, and only until the submit
        try:
            async for event in events:
                yield event
        finally:
            if hook is not None and self.hooks is not None:
                self.hooks.discard(hook)

    async def _generate(self, request: VideoRequest, hook: Hook | None) -> AsyncIterator[Event]:
        try:
            answer, detail = await self.submit(request, hook)
            task_id = find_task_id(answer.data)
            if task_id is None:
                snippet = self.http.redact(str(answer.data)[:200])
                problem = f"the submit answer has no {self.id_name} id"
                raise ProviderProtocolError(f"{problem}: {snippet}")
        except ProviderError as exc:
            self.log.warning("%s submit failed: %s", self.name, exc)
            yield Failed(exc)
            return
        self.log.info("%s job %s submitted%s", self.name, task_id, detail)
        first_hint = self.pace(answer.headers)
        del request, answer  # the image is not kept in memory while the job renders
        yield Submitted(task_id)
        async for event in self.poll(task_id, wait_first=True, hook=hook, first_hint=first_hint):
            yield event

    async def resume(self, task_id: str) -> AsyncIterator[Event]:
        """Poll an already submitted job again; never submits."""
        async for event in self.poll(task_id, wait_first=False):
            yield event

    async def cancel(self, task_id: str) -> None:
        """Nothing to do unless the protocol can cancel (capabilities say whether)."""
        self.log.info("%s job %s cannot be cancelled at the provider", self.name, task_id)

    def poll(
        self,
        task_id: str,
        *,
        wait_first: bool,
        hook: Hook | None = None,
        first_hint: float | None = None,
    ) -> AsyncIterator[Event]:
        """The job's events from polling its status (see :func:`poll_job`)."""
        wake: asyncio.Event | None = hook.fired if hook is not None else None
        return poll_job(
            self.http,
            self.job_path(task_id),
            self.status_reader(task_id),
            task_id=task_id,
            wait_first=wait_first,
            hint=self.pace,
            first_hint=first_hint,
            wake=wake,
        )
