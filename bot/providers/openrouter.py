"""OpenRouter's asynchronous video API: one JSON shape in front of many current models.

Reference: https://openrouter.ai/docs/api/api-reference/videos. Bearer auth.

- Submit ``POST /api/v1/videos`` (JSON: ``model``, ``prompt``, ``duration``,
  ``aspect_ratio``, ``resolution``/``size``, the member's picture as a
  ``frame_images`` entry with ``frame_type: first_frame``, and ``callback_url``
  with push completion). Answer ``202 {"id", "polling_url", "status": "pending"}``.
- Poll ``GET /api/v1/videos/{id}``: ``pending``, ``in_progress``, then
  ``completed`` (``urls``: signed links), ``failed`` (``error``: a string),
  ``cancelled`` or ``expired``. OpenRouter suggests polling every 10-30 s, so
  this protocol's defaults are ``PROVIDER_POLL_INTERVAL=10`` and
  ``PROVIDER_POLL_MAX_INTERVAL=30`` (see ``bot/config.py``); push makes the end
  arrive at once anyway.
- Result: ``urls[0]``, else ``GET /api/v1/videos/{id}/content?index=0`` with the
  auth header, streamed to a temporary file.
- Jobs resume after a restart from their id. The public API has no cancel or
  delete call, so ``cancellable`` is False.

Capabilities come from the catalogue, ``GET /api/v1/videos/models``. The API
for whoever wires it into the bot:

- ``await provider.load_catalogue()`` fetches and parses it and replaces
  :attr:`OpenRouterProvider.capabilities` (only models that accept a
  ``first_frame`` image, narrowed to ``PROVIDER_MODELS`` when set, the default
  model first); it raises a typed :class:`ProviderError` on a timeout or
  garbage and then leaves the capabilities as they were.
- ``await provider.refresh()`` does the same but only logs failures and returns
  whether it worked: call it at start and on a schedule (hourly is plenty).
- ``provider.catalogue_prices()`` maps each offered model to its price per
  second of video (the highest of its per-second SKUs, so estimates never
  undercount), for the cost estimate and budgets.
- ``provider.catalogue_loaded`` says whether the capabilities are real yet.

Until a catalogue has been read, each configured model (``PROVIDER_MODEL``,
``PROVIDER_MODELS``) is assumed to make 8 s clips at 720p in both orientations,
without HD (:data:`bot.providers.catalogue.FALLBACK_DURATIONS`). With no
``PROVIDER_MODELS`` every image-to-video model in the catalogue is offered:
set it to keep ``/video``'s model choices short (Discord shows at most 25).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import aiohttp

from bot.config import ProviderSettings
from bot.i18n import N_
from bot.providers.base import (
    Capabilities,
    Completed,
    Event,
    Failed,
    Progress,
    Queued,
    VideoRequest,
)
from bot.providers.catalogue import (
    ASPECT_RATIOS,
    CatalogueModel,
    fallback_model,
    parse_catalogue,
)
from bot.providers.errors import (
    GenerationFailed,
    JobCancelled,
    ProviderError,
    ProviderProtocolError,
    ProviderUnavailable,
    failure_from_text,
)
from bot.providers.http import JSONResponse
from bot.providers.normalize import find_video_url, normalize_status, ordered_models, parse_percent
from bot.providers.polling import StatusReader, unfinished_event
from bot.providers.push import Hook, HookRegistry
from bot.providers.tasks import TaskProvider, status_label, warn_image_size

log = logging.getLogger(__name__)


class JobExpired(GenerationFailed):
    """OpenRouter gave up on the job (status ``expired``); nothing was made."""

    template = N_("The video service gave up on this video before it was made. Please try again.")


class OpenRouterProvider(TaskProvider):
    """Client of OpenRouter's ``/api/v1/videos`` API (see the module docstring)."""

    name = "openrouter"
    id_name = "job"

    def __init__(
        self, session: aiohttp.ClientSession, settings: ProviderSettings, **limits: int
    ) -> None:
        super().__init__(session, settings, **limits)  # max_video_bytes, see TaskProvider
        # PROVIDER_BASE_URL may be the origin or OpenRouter's documented .../api/v1
        # (config strips the /v1): the API lives under /api/v1 either way.
        self.path = ("" if settings.base_url.endswith("/api") else "/api") + "/v1/videos"
        self._plain_http_logged = False
        self.catalogue_loaded = False
        names = ordered_models(settings.model, settings.models, ())
        self._models: dict[str, CatalogueModel] = {n: fallback_model(n) for n in names}
        self.capabilities = self._capabilities()

    def _capabilities(self) -> Capabilities:
        specs = tuple(m.spec for m in self._models.values())
        return Capabilities(models=specs, resumable=True, cancellable=False)

    # ------------------------------------------------------------------ catalogue

    async def load_catalogue(self, *, timeout: float | None = None) -> Capabilities:
        """Read the catalogue and rebuild :attr:`capabilities` from it; returns them.

        Raises :class:`ProviderError` (unreachable, timed out, unreadable, or no
        configured model usable for image-to-video); the capabilities then stay
        as they were.
        """
        limit = aiohttp.ClientTimeout(total=timeout or self.settings.request_timeout)
        try:
            answer = await self.http.json("GET", self.path + "/models", timeout=limit)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(
                self.http.redact(f"reading the model catalogue failed: {type(exc).__name__}")
            ) from None
        usable = {m.name: m for m in parse_catalogue(answer.data)}
        chosen = self._choose(usable, answer.data)
        if not chosen:
            raise ProviderProtocolError(
                "the model catalogue offers none of the configured models for image-to-video"
            )
        self._models = chosen
        self.capabilities = self._capabilities()
        self.catalogue_loaded = True
        log.info("openrouter catalogue read: offering %s", ", ".join(chosen))
        return self.capabilities

    def _choose(self, usable: dict[str, CatalogueModel], data: Any) -> dict[str, CatalogueModel]:
        """The catalogue's models to offer: PROVIDER_MODELS (or all), the default first."""
        default, configured = self.settings.model, self.settings.models
        wanted = ordered_models(default, configured, ()) if configured else (default, *usable)
        missing = [n for n in dict.fromkeys(wanted) if n not in usable]
        if missing:
            entries = data.get("data") if isinstance(data, dict) else data
            listed = {e.get("id") for e in entries or () if isinstance(e, dict)}
            described = [
                f"{n} ({'no first-frame image' if n in listed else 'not listed'})" for n in missing
            ]
            log.warning(
                "openrouter catalogue: configured models not offered: %s", ", ".join(described)
            )
        return {n: usable[n] for n in dict.fromkeys(wanted) if n in usable}

    async def refresh(self) -> bool:
        """:meth:`load_catalogue`, logging a failure instead of raising; True when it worked."""
        try:
            await self.load_catalogue()
        except ProviderError as exc:
            kept = "catalogue" if self.catalogue_loaded else "configured models' defaults"
            log.warning("openrouter catalogue not read (%s); keeping the %s", exc, kept)
            return False
        return True

    def catalogue_prices(self) -> dict[str, Decimal]:
        """Price per second of video for each offered model the catalogue prices."""
        prices = {n: m.price_per_second for n, m in self._models.items()}
        return {n: p for n, p in prices.items() if p is not None}

    # ------------------------------------------------------------------ submit

    def use_hooks(self, hooks: HookRegistry) -> None:
        """Push completion: jobs get a ``callback_url`` (only when it is https)."""
        self.hooks = hooks

    def request_body(self, request: VideoRequest) -> dict[str, Any]:
        """The JSON submitted for ``request`` (UnsupportedOption for an unknown model)."""
        spec = self.capabilities.model(request.model)
        model = self._models[spec.name]
        hd = request.hd and spec.hd
        body: dict[str, Any] = {
            "model": spec.name,
            "prompt": request.prompt,
            "duration": int(request.duration),
        }
        if model.send_aspect_ratio:
            body["aspect_ratio"] = ASPECT_RATIOS[request.orientation]
        resolution = model.hd_resolution if hd else model.resolution
        if resolution is not None:
            body["resolution"] = resolution
        elif model.send_size:
            width, height = spec.size(request.orientation, hd)
            body["size"] = f"{width}x{height}"
        if request.image is not None:
            image = request.image
            warn_image_size(log, image, spec.size(request.orientation, hd))
            url = image.source_url if self.settings.image_mode == "url" else None
            body["frame_images"] = [
                {
                    "type": "image_url",
                    "image_url": {"url": url or image.data_url()},
                    "frame_type": "first_frame",
                }
            ]
        return body

    def issue_hook(self) -> Hook | None:
        """A push hook for one job, unless push is off or its URL is not https."""
        if self.hooks is None:
            return None
        if not self.hooks.base.startswith("https://"):
            if not self._plain_http_logged:
                self._plain_http_logged = True
                log.warning(
                    "PUBLIC_BASE_URL is not https: OpenRouter only calls https callbacks, "
                    "so openrouter jobs are polled"
                )
            return None
        return self.hooks.issue()

    async def submit(self, request: VideoRequest, hook: Hook | None) -> tuple[JSONResponse, str]:
        """POST the job (with a ``callback_url`` when push is on)."""
        body = self.request_body(request)
        if hook is not None:
            body["callback_url"] = hook.url
        answer = await self.http.json("POST", self.path, json=body)
        return answer, f" ({body['model']}, {body['duration']}s)"

    # ------------------------------------------------------------------ poll

    def status_reader(self, job_id: str) -> StatusReader:
        """Reads OpenRouter's own vocabulary (pending, in_progress, completed...)."""
        unknown: set[str] = set()
        job = f"openrouter job {job_id}"

        async def read(data: dict[str, Any]) -> Event | None:
            raw = data.get("status")
            status = status_label(raw)
            reason = self.http.redact(_error_text(data.get("error")))
            if status == "pending":
                return Queued(status="pending")
            if status == "in_progress":
                return Progress(parse_percent(data.get("progress")), "in_progress")
            if status == "completed":
                urls = data.get("urls")
                url = find_video_url({"url": urls}) if isinstance(urls, list) else None
                return Completed(url=url) if url else await self.download(job_id)
            if status == "failed":
                log.info("%s failed: %s", job, reason)
                return Failed(failure_from_text(reason))
            if status == "cancelled":
                return Failed(JobCancelled(f"{job} was cancelled at the provider"))
            if status == "expired":
                return Failed(JobExpired(reason or f"{job} expired at the provider"))
            return unfinished_event(normalize_status(raw), raw, data, job, unknown, log)

        return read

    async def download(self, job_id: str) -> Event:
        """The finished video from ``/content?index=0`` (with auth): :func:`fetch_content`."""
        gone = "the finished video is no longer available"
        return await self.fetch_job_content(job_id, gone, params={"index": "0"})


def _error_text(error: object) -> str:
    """The ``error`` of a job: a string per the reference, an object on some answers."""
    if isinstance(error, dict):
        error = error.get("message") or error.get("code")
    return str(error).strip() if error else ""
