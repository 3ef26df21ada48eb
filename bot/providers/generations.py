"""The ``generations`` task protocol: JSON submit, then poll a task id.

``POST /v2/videos/generations`` answers ``{"task_id"}``; ``GET
/v2/videos/generations/{task_id}`` reports ``status``/``progress`` until the
video URL appears. Jobs survive a bot restart (:meth:`GenerationsProvider.resume`)
but cannot be cancelled: the protocol has no such call.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import (
    ASPECT_RATIOS,
    SIZES_720P,
    SORA_MODELS,
    Capabilities,
    Completed,
    Event,
    Failed,
    ModelSpec,
    VideoRequest,
)
from bot.providers.errors import ProviderProtocolError, failure_from_text
from bot.providers.http import JSONResponse
from bot.providers.normalize import find_video_url, ordered_models, parse_timestamp
from bot.providers.polling import StatusReader
from bot.providers.push import Hook, HookRegistry
from bot.providers.tasks import TaskProvider, task_status_reader, warn_image_size

log = logging.getLogger(__name__)

SUBMIT_PATH = "/v2/videos/generations"
DEFAULT_MODELS = SORA_MODELS
SIZES = SIZES_720P


def model_spec(name: str) -> ModelSpec:
    """What ``name`` accepts here; unknown names (operator's choice) get sora-2's limits."""
    if name == "sora-2-pro":
        return ModelSpec(name, (10, 15, 25), SIZES, hd=True, hd_durations=(10, 15))
    return ModelSpec(name, (10, 15), SIZES)


def failure_reason(data: dict[str, Any]) -> str:
    """The provider's reason for a failed task: ``fail_reason``, ``message`` or ``error``."""
    for key in ("fail_reason", "message", "error"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("code")
        if value:
            return str(value)
    return ""


class GenerationsProvider(TaskProvider):
    """Client of the ``/v2/videos/generations`` task API."""

    name = "generations"
    path = SUBMIT_PATH

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ProviderSettings,
        *,
        notify_hook: str | None = None,
    ) -> None:
        super().__init__(session, settings)
        self.notify_hook = notify_hook
        names = ordered_models(settings.model, settings.models, DEFAULT_MODELS)
        self.capabilities = Capabilities(
            models=tuple(model_spec(n) for n in names), resumable=True, cancellable=False
        )

    def use_hooks(self, hooks: HookRegistry) -> None:
        """Push completion: each job from now on gets its own hook URL from ``hooks``."""
        self.hooks = hooks

    def request_body(self, request: VideoRequest) -> dict[str, Any]:
        """The JSON submitted for ``request`` (UnsupportedOption for an unknown model)."""
        spec = self.capabilities.model(request.model)
        images: list[str] = []
        if request.image is not None:
            image = request.image
            # The provider only gets an aspect ratio and refuses other sizes.
            warn_image_size(log, image, spec.size(request.orientation))
            if self.settings.image_mode == "url" and image.source_url:
                images.append(image.source_url)
            else:
                images.append(image.data_url())
        hd = request.hd and spec.hd
        if spec.hd_durations is not None and request.duration not in spec.hd_durations:
            hd = False
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": spec.name,
            "images": images,
            "aspect_ratio": ASPECT_RATIOS[request.orientation],
            "duration": str(request.duration),
            "hd": hd,
            "watermark": False,
            "private": True,
        }
        if self.notify_hook:
            body["notify_hook"] = self.notify_hook
        return body

    async def submit(self, request: VideoRequest, hook: Hook | None) -> tuple[JSONResponse, str]:
        """POST the task (with the job's own push hook when push is on)."""
        body = self.request_body(request)
        if hook is not None:
            body["notify_hook"] = hook.url
        answer = await self.http.json("POST", SUBMIT_PATH, json=body)
        return answer, f" ({body['model']}, {body['duration']}s)"

    def status_reader(self, task_id: str) -> StatusReader:
        """Reads ``status``/``progress``; the video URL once it succeeded."""

        async def succeeded(data: dict[str, Any]) -> Event:
            url = find_video_url(data)
            if url is None:
                return Failed(ProviderProtocolError(f"task {task_id} succeeded without a URL"))
            took = _duration(data.get("submit_time"), data.get("finish_time"))
            log.info("generations job %s done%s: %s", task_id, took, url)
            return Completed(url=url)

        def failed(data: dict[str, Any]) -> Event:
            reason = self.http.redact(failure_reason(data))
            log.info("generations job %s failed: %s", task_id, reason)
            return Failed(failure_from_text(reason))

        job = f"generations job {task_id}"
        return task_status_reader(job, log, succeeded=succeeded, failed=failed)


def _duration(start: object, end: object) -> str:
    """`` after N s`` when both timestamps are readable, else nothing (for logs)."""
    began, ended = parse_timestamp(start), parse_timestamp(end)
    if began is None or ended is None or ended < began:
        return ""
    return f" after {ended - began:.0f}s"
