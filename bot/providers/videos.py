"""The OpenAI-style ``videos`` protocol: multipart submit, poll, download.

See https://platform.openai.com/docs/api-reference/videos for the API.

``POST /v1/videos`` (multipart, the image as ``input_reference``) answers a
video object; ``GET /v1/videos/{id}`` reports it until ``completed``; the result
is a public URL some resellers add (``soraVideoUrl``), else ``GET
/v1/videos/{id}/content`` (mp4 bytes, or JSON ``{"url"}`` on some resellers).
Jobs can be resumed and cancelled (``DELETE``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import (
    Capabilities,
    Completed,
    Event,
    Failed,
    ModelSpec,
    Orientation,
    Queued,
    Submitted,
    VideoRequest,
)
from bot.providers.errors import (
    ContentRejected,
    GenerationFailed,
    ProviderError,
    ProviderProtocolError,
    failure_from_text,
    looks_like_policy,
    redact,
)
from bot.providers.http import ProviderHTTP, poll_after_hint
from bot.providers.normalize import (
    find_task_id,
    find_video_url,
    normalize_status,
    ordered_models,
    unwrap_envelope,
)
from bot.providers.polling import poll_job, unfinished_event

log = logging.getLogger(__name__)

SUBMIT_PATH = "/v1/videos"
DEFAULT_MODELS = ("sora-2", "sora-2-pro")
SIZES: dict[Orientation, tuple[int, int]] = {"portrait": (720, 1280), "landscape": (1280, 720)}
HD_SIZES: dict[Orientation, tuple[int, int]] = {
    "portrait": (1024, 1792),
    "landscape": (1792, 1024),
}
MAX_VIDEO_BYTES = 512 * 1024 * 1024  # a 12 s 1792x1024 clip is far below; protects memory
_CHUNK = 1 << 16


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


class VideosProvider:
    """Client of the ``/v1/videos`` API."""

    name = "videos"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ProviderSettings,
        *,
        max_video_bytes: int = MAX_VIDEO_BYTES,
    ) -> None:
        self.settings = settings
        self.http = ProviderHTTP(session, settings)
        self.max_video_bytes = max_video_bytes
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
            if (image.width, image.height) != (width, height):
                log.warning(
                    "input image is %dx%d, provider expects %dx%d",
                    image.width,
                    image.height,
                    width,
                    height,
                )
            form.add_field(
                "input_reference", image.data, filename=image.filename, content_type=image.mime
            )
        return form

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Submit ``request``, then poll it: Submitted, Queued/Progress..., one end event."""
        try:
            answer = await self.http.json("POST", SUBMIT_PATH, data=self.request_form(request))
            video_id = find_task_id(answer.data)
            if video_id is None:
                snippet = self.http.redact(str(answer.data)[:200])
                raise ProviderProtocolError(f"the submit answer has no video id: {snippet}")
        except ProviderError as exc:
            log.warning("videos submit failed: %s", exc)
            yield Failed(exc)
            return
        log.info("videos job %s submitted", video_id)
        hint = poll_after_hint(answer.headers)
        del request, answer  # the image is not kept in memory while the job renders
        yield Submitted(video_id)
        async for event in self._poll(video_id, wait_first=True, first_hint=hint):
            yield event

    async def resume(self, task_id: str) -> AsyncIterator[Event]:
        """Poll an already submitted video again; never submits."""
        async for event in self._poll(task_id, wait_first=False):
            yield event

    async def cancel(self, task_id: str) -> None:
        """``DELETE`` the video at the provider. Best effort: failures are only logged."""
        try:
            async with self.http.open("DELETE", f"{SUBMIT_PATH}/{quote(task_id, safe='')}"):
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

    def _poll(
        self, video_id: str, *, wait_first: bool, first_hint: float | None = None
    ) -> AsyncIterator[Event]:
        unknown: set[str] = set()

        async def read(answer: dict[str, Any]) -> Event | None:
            data = unwrap_envelope(answer)
            raw = data.get("status")
            label = str(raw).strip().lower() if raw is not None else ""
            state = normalize_status(raw)
            if state == "queued":
                return Queued(status=label)
            if state == "succeeded":
                url = find_video_url(data)
                if url is not None:
                    return Completed(url=url)
                return await self.download(video_id)
            if state == "failed":
                fallback = str(data.get("fail_reason") or data.get("message") or "")
                failure = error_from_video(
                    data.get("error"), fallback, secret=self.settings.api_key
                )
                log.info("videos job %s failed: %s", video_id, failure)
                return Failed(failure)
            return unfinished_event(state, raw, data, f"videos job {video_id}", unknown, log)

        path = f"{SUBMIT_PATH}/{quote(video_id, safe='')}"
        return poll_job(
            self.http,
            path,
            read,
            task_id=video_id,
            wait_first=wait_first,
            hint=poll_after_hint,
            first_hint=first_hint,
        )

    async def download(self, video_id: str) -> Event:
        """Fetch a finished video's ``/content``: a URL (JSON answer) or the mp4, saved to a file.

        Raises typed errors for the poll loop to judge (transient ones are retried
        on the next poll); a 404/410 means the short-lived download expired.
        """
        path = f"{SUBMIT_PATH}/{quote(video_id, safe='')}/content"
        limit = self.settings.request_timeout
        # No total limit: a big file on a slow link is fine as long as bytes keep coming.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
        try:
            async with self.http.open("GET", path, timeout=timeout) as resp:
                if resp.content_type == "application/json" or resp.content_type.endswith("+json"):
                    return self._url_answer(video_id, await resp.text(errors="replace"))
                if resp.content_type.startswith("text/"):
                    snippet = self.http.redact((await resp.text(errors="replace"))[:200])
                    raise ProviderProtocolError(f"{path} answered text, not a video: {snippet!r}")
                video, size = await self._save_capped(resp)
        except ProviderError as exc:
            if exc.status in (404, 410):
                log.warning("videos job %s: content is gone: %s", video_id, exc)
                return Failed(
                    GenerationFailed("the video's download link expired", status=exc.status)
                )
            raise
        if not size:
            video.unlink(missing_ok=True)
            raise ProviderProtocolError(f"{path} answered an empty body")
        log.info("videos job %s downloaded (%d bytes)", video_id, size)
        return Completed(file=video)

    def _url_answer(self, video_id: str, text: str) -> Event:
        try:
            data = json.loads(text)
        except ValueError:
            raise ProviderProtocolError(f"video {video_id} content answered bad JSON") from None
        url = find_video_url(data)
        if url is None:
            snippet = self.http.redact(text[:200])
            raise ProviderProtocolError(f"video {video_id} content has no URL: {snippet}")
        return Completed(url=url)

    async def _save_capped(self, resp: aiohttp.ClientResponse) -> tuple[Path, int]:
        """Stream the body to a temporary file (never whole in memory); returns it and its size."""
        cap = self.max_video_bytes
        cap_text = f"{cap // (1024 * 1024)} MiB" if cap >= 1024 * 1024 else f"{cap} bytes"
        too_big = GenerationFailed(f"the video is larger than {cap_text}, the most the bot accepts")
        if resp.content_length is not None and resp.content_length > self.max_video_bytes:
            raise too_big
        fd, name = tempfile.mkstemp(prefix="sora-video-", suffix=".mp4")
        video, size = Path(name), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > self.max_video_bytes:
                        raise too_big
                    out.write(chunk)
        except BaseException:
            os.remove(name)  # a partial download is never left behind
            raise
        return video, size
