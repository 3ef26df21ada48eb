"""The OpenAI-style ``videos`` protocol: multipart submit, poll, download.

See https://platform.openai.com/docs/api-reference/videos for the API.

``POST /v1/videos`` (multipart, the image as ``input_reference``) answers a
video object; ``GET /v1/videos/{id}`` reports it until ``completed``; the result
is a public URL some resellers add (``soraVideoUrl``), else ``GET
/v1/videos/{id}/content`` (mp4 bytes, or JSON ``{"url"}`` on some resellers).
Jobs can be resumed and cancelled (``DELETE``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import (
    SIZES_720P,
    SORA_MODELS,
    Capabilities,
    Completed,
    Event,
    Failed,
    ModelSpec,
    Orientation,
    VideoRequest,
)
from bot.providers.errors import (
    ContentRejected,
    ProviderError,
    failure_from_text,
    looks_like_policy,
    redact,
)
from bot.providers.http import JSONResponse, poll_after_hint
from bot.providers.normalize import find_video_url, ordered_models
from bot.providers.polling import StatusReader
from bot.providers.push import Hook
from bot.providers.tasks import TaskProvider, task_status_reader, warn_image_size

log = logging.getLogger(__name__)

SUBMIT_PATH = "/v1/videos"
DEFAULT_MODELS = SORA_MODELS
SIZES = SIZES_720P
HD_SIZES: dict[Orientation, tuple[int, int]] = {
    "portrait": (1024, 1792),
    "landscape": (1792, 1024),
}


def model_spec(name: str) -> ModelSpec:
    """What ``name`` accepts here; unknown names (operator's choice) get sora-2's limits."""
    if name == "sora-2-pro":
        return ModelSpec(name, (4, 8, 12), SIZES, hd=True, hd_sizes=HD_SIZES)
    return ModelSpec(name, (4, 8, 12), SIZES)


def error_from_video(
    error: object, fallback: str = "", *, secret: str | None = None
) -> ProviderError:
    """The typed error of a failed video object's ``error`` (``{code, message}`` or text).

    A policy ``code`` (``moderation_blocked``, ``content_policy_violation``...)
    makes it :class:`ContentRejected` even when the message says nothing useful.
    ``secret`` (the API key) is blanked out of the text should the provider echo it.
    """
    code: str = ""
    message: str = ""
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
    elif isinstance(error, str):
        message = error
    text = redact(message or fallback or code, secret)
    failure = failure_from_text(text)
    if code and looks_like_policy(code) and not isinstance(failure, ContentRejected):
        return ContentRejected(failure.reason)
    return failure


class VideosProvider(TaskProvider):
    """Client of the ``/v1/videos`` API."""

    name = "videos"
    id_name = "video"
    path = SUBMIT_PATH

    def __init__(
        self, session: aiohttp.ClientSession, settings: ProviderSettings, **limits: int
    ) -> None:
        super().__init__(session, settings, **limits)  # max_video_bytes, see TaskProvider
        names = ordered_models(settings.model, settings.models, DEFAULT_MODELS)
        self.capabilities = Capabilities(
            models=tuple(model_spec(n) for n in names), resumable=True, cancellable=True
        )

    def request_form(self, request: VideoRequest) -> aiohttp.FormData:
        """The multipart form submitted for ``request`` (UnsupportedOption for an unknown model)."""
        spec = self.capabilities.model(request.model)
        width, height = spec.size(request.orientation, hd=request.hd and spec.hd)
        form = aiohttp.FormData()
        form.add_field("prompt", request.prompt)
        form.add_field("model", spec.name)
        form.add_field("seconds", str(request.duration))
        form.add_field("size", f"{width}x{height}")
        if request.image is not None:
            image = request.image
            warn_image_size(log, image, (width, height))
            form.add_field(
                "input_reference", image.data, filename=image.filename, content_type=image.mime
            )
        return form

    async def submit(self, request: VideoRequest, hook: Hook | None) -> tuple[JSONResponse, str]:
        """POST the multipart form (the protocol has no push hooks)."""
        return await self.http.json("POST", SUBMIT_PATH, data=self.request_form(request)), ""

    def pace(self, headers: Mapping[str, str]) -> float | None:
        """The ``openai-poll-after-ms`` hint of a create or retrieve answer."""
        return poll_after_hint(headers)

    async def cancel(self, task_id: str) -> None:
        """``DELETE`` the video at the provider. Best effort: failures are only logged."""
        try:
            async with self.http.open("DELETE", self.job_path(task_id)):
                pass
        except ProviderError as exc:
            log.warning("videos job %s: delete failed: %s", task_id, exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "videos job %s: delete failed: %s",
                task_id,
                self.http.redact(f"{type(exc).__name__}: {exc}"),
            )
        else:
            log.info("videos job %s deleted at the provider", task_id)

    def status_reader(self, task_id: str) -> StatusReader:
        """Reads the video object; its public URL or ``/content`` once completed."""

        async def succeeded(data: dict[str, Any]) -> Event:
            url = find_video_url(data)
            if url is not None:
                return Completed(url=url)
            return await self.download(task_id)

        def failed(data: dict[str, Any]) -> Event:
            fallback = str(data.get("fail_reason") or data.get("message") or "")
            failure = error_from_video(data.get("error"), fallback, secret=self.settings.api_key)
            log.info("videos job %s failed: %s", task_id, failure)
            return Failed(failure)

        job = f"videos job {task_id}"
        return task_status_reader(job, log, succeeded=succeeded, failed=failed)

    async def download(self, video_id: str) -> Event:
        """Fetch a finished video's ``/content``: a URL (JSON answer) or the mp4, saved to a file.

        Raises typed errors for the poll loop to judge (transient ones are retried
        on the next poll); a 404/410 means the short-lived download expired.
        """
        return await self.fetch_job_content(video_id, "the video's download link expired")
