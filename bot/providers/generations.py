"""The ``generations`` task protocol: JSON submit, then poll a task id.

``POST /v2/videos/generations`` answers ``{"task_id"}``; ``GET
/v2/videos/generations/{task_id}`` reports ``status``/``progress`` until the
video URL appears. Jobs survive a bot restart (:meth:`GenerationsProvider.resume`)
but cannot be cancelled: the protocol has no such call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
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
    ProviderError,
    ProviderProtocolError,
    failure_from_text,
)
from bot.providers.http import ProviderHTTP
from bot.providers.normalize import (
    find_task_id,
    find_video_url,
    normalize_status,
    ordered_models,
    parse_timestamp,
    unwrap_envelope,
)
from bot.providers.polling import poll_job, unfinished_event
from bot.providers.push import Hook, HookRegistry

log = logging.getLogger(__name__)

SUBMIT_PATH = "/v2/videos/generations"
DEFAULT_MODELS = ("sora-2", "sora-2-pro")
SIZES: dict[Orientation, tuple[int, int]] = {"portrait": (720, 1280), "landscape": (1280, 720)}
ASPECT_RATIOS: dict[Orientation, str] = {"portrait": "9:16", "landscape": "16:9"}


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


class GenerationsProvider:
    """Client of the ``/v2/videos/generations`` task API."""

    name = "generations"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ProviderSettings,
        *,
        notify_hook: str | None = None,
    ) -> None:
        self.settings = settings
        self.http = ProviderHTTP(session, settings)
        self.notify_hook = notify_hook
        self.hooks: HookRegistry | None = None
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
            expected = spec.size(request.orientation)
            if (image.width, image.height) != expected:
                # The provider only gets an aspect ratio and refuses other sizes.
                log.warning(
                    "input image is %dx%d, provider expects %dx%d",
                    image.width,
                    image.height,
                    *expected,
                )
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

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Submit ``request``, then poll it: Submitted, Queued/Progress..., one end event.

        With push on (:meth:`use_hooks`) the job's own hook wakes the poller when
        the provider calls it; the hook is retired when the job's events end.
        """
        hook = self.hooks.issue() if self.hooks is not None else None
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
            body = self.request_body(request)
            if hook is not None:
                body["notify_hook"] = hook.url
            answer = await self.http.json("POST", SUBMIT_PATH, json=body)
            task_id = find_task_id(answer.data)
            if task_id is None:
                snippet = self.http.redact(str(answer.data)[:200])
                raise ProviderProtocolError(f"the submit answer has no task id: {snippet}")
        except ProviderError as exc:
            log.warning("generations submit failed: %s", exc)
            yield Failed(exc)
            return
        log.info("generations job %s submitted (%s, %ss)", task_id, body["model"], body["duration"])
        del request, body, answer  # the inline image is not kept while the job renders
        yield Submitted(task_id)
        wake = hook.fired if hook is not None else None
        async for event in self._poll(task_id, wait_first=True, wake=wake):
            yield event

    async def resume(self, task_id: str) -> AsyncIterator[Event]:
        """Poll an already submitted task again; never submits."""
        async for event in self._poll(task_id, wait_first=False):
            yield event

    async def cancel(self, task_id: str) -> None:
        """Nothing to do: the protocol cannot cancel a task (capabilities say so)."""
        log.info("generations job %s cannot be cancelled at the provider", task_id)

    def _poll(
        self, task_id: str, *, wait_first: bool, wake: asyncio.Event | None = None
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
                if url is None:
                    return Failed(ProviderProtocolError(f"task {task_id} succeeded without a URL"))
                took = _duration(data.get("submit_time"), data.get("finish_time"))
                log.info("generations job %s done%s: %s", task_id, took, url)
                return Completed(url=url)
            if state == "failed":
                reason = self.http.redact(failure_reason(data))
                log.info("generations job %s failed: %s", task_id, reason)
                return Failed(failure_from_text(reason))
            return unfinished_event(state, raw, data, f"generations job {task_id}", unknown, log)

        path = f"{SUBMIT_PATH}/{quote(task_id, safe='')}"
        return poll_job(self.http, path, read, task_id=task_id, wait_first=wait_first, wake=wake)


def _duration(start: object, end: object) -> str:
    """`` after N s`` when both timestamps are readable, else nothing (for logs)."""
    began, ended = parse_timestamp(start), parse_timestamp(end)
    if began is None or ended is None or ended < began:
        return ""
    return f" after {ended - began:.0f}s"
