"""Fake OpenRouter video API: catalogue, submit, poll, content, and completion callbacks.

Follows the public reference (https://openrouter.ai/docs/api/api-reference/videos):
Bearer auth only (401 otherwise); ``GET /api/v1/videos/models`` lists a few
models with their supported values; ``POST /api/v1/videos`` refuses any value
outside a model's sets with a 400 ``{"error": {"code", "message"}}`` and
answers ``202 {"id", "polling_url", "status": "pending"}``; ``GET
/api/v1/videos/{id}`` moves ``pending`` -> ``in_progress`` -> ``completed``
(signed ``urls`` on this server's ``/files``, ``unsigned_urls`` on the content
proxy, ``usage.cost``) or ``failed`` (``error``), or ``cancelled``/``expired``
per :attr:`Scenario.openrouter_end`; ``GET /api/v1/videos/{id}/content?index=0``
serves the mp4 with auth. A job submitted with an https ``callback_url`` gets
its final status POSTed there once (to ``Scenario.callback_origin`` when set,
standing in for the bot's reverse proxy).

Each submit's recorder entry gains ``frame_size``: the pixel size of an inline
first frame, so tests can check what the bot fitted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.fake_provider.common import (
    SAMPLE_VIDEO,
    FakeJob,
    State,
    image_size,
    injected_error,
    record,
)
from bot.fake_provider.openrouter_catalogue import MODELS
from bot.fake_provider.routes import Watchers, job_finder, poll_route, push_when_done, submit_gate
from bot.fake_provider.scenario import Recorder, Scenario

log = logging.getLogger(__name__)

PATH = "/api/v1/videos"
EXPIRES_AFTER = 3600  # signed links live about an hour

_BY_ID = {m["id"]: m for m in MODELS}


@dataclass
class OpenRouterState:
    """The fake's jobs, the callbacks it made, and its background callback watchers."""

    jobs: dict[str, FakeJob] = field(default_factory=dict)
    callbacks_sent: list[dict[str, Any]] = field(default_factory=list)


STATE_KEY = web.AppKey("openrouter_state", OpenRouterState)


def or_error(status: int, message: str) -> web.Response:
    """OpenRouter's error body: ``{"error": {"code": <status>, "message"}}``."""
    return web.json_response({"error": {"code": status, "message": message}}, status=status)


def check_bearer(request: web.Request, scenario: Scenario) -> web.Response | None:
    """A 401 unless ``Authorization: Bearer <key>``."""
    if request.headers.get("Authorization") == f"Bearer {scenario.api_key}":
        return None
    return or_error(401, "No auth credentials found")


def job_view(job: FakeJob, state: State, scenario: Scenario) -> dict[str, Any]:
    """A job's status object, as the poll endpoint and callbacks send it."""
    status = {"queued": "pending", "running": "in_progress", "failed": "failed"}.get(
        state, scenario.openrouter_end
    )
    view: dict[str, Any] = {
        "id": job.id,
        "polling_url": f"{job.origin}{PATH}/{job.id}",
        "status": status,
    }
    if state != "queued":
        view["generation_id"] = "gen-" + job.id[-12:]
    if status == "failed":
        view["error"] = scenario.fail_reason
    elif status == "expired":
        view["error"] = "Video generation job expired"
    elif status == "completed":
        expires = (job.finished_wall or 0) + EXPIRES_AFTER
        signature = hashlib.sha256(f"{job.id}:{expires}".encode()).hexdigest()[:32]
        if not scenario.no_signed_urls:
            view["urls"] = [f"{job.video_url}?expires={expires}&signature={signature}"]
        view["unsigned_urls"] = [f"{job.origin}{PATH}/{job.id}/content?index=0"]
        seconds = job.request.get("duration") or 8
        view["usage"] = {"cost": round(0.1 * float(seconds), 4), "is_byok": False}
    return view


def _frame_problem(model: dict[str, Any], frames: Any, entry: dict[str, Any]) -> str | None:
    """Why ``frame_images`` is refused, or None; notes an inline image's size in ``entry``."""
    if not isinstance(frames, list):
        return "frame_images must be an array"
    accepted = model.get("supported_frame_images") or []
    for frame in frames:
        if not isinstance(frame, dict) or frame.get("type") != "image_url":
            return "frame_images[].type must be image_url"
        kind = frame.get("frame_type")
        if kind not in ("first_frame", "last_frame"):
            return "frame_images[].frame_type must be first_frame or last_frame"
        if kind not in accepted:
            return f"Model {model['id']} does not support {kind} frame images"
        image = frame.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str):
            return "frame_images[].image_url.url is required"
        if url.startswith("data:"):
            head, _, payload = url.partition(",")
            if not head.startswith("data:image/") or not head.endswith(";base64"):
                return "frame_images[].image_url.url must be a base64 image data URL"
            try:
                size = image_size(base64.b64decode(payload, validate=True))
            except binascii.Error:
                size = None
            if size is None:
                return "frame_images[].image_url.url is not a valid image"
            entry.setdefault("frame_size", size)
        elif urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            return "frame_images[].image_url.url must be an https URL or a data URL"
    return None


def validate(body: Any, entry: dict[str, Any]) -> str | None:
    """Why a submit body is refused (the 400 message), or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    model = _BY_ID.get(str(body.get("model")))
    if model is None:
        return f"Model {body.get('model')!r} is not a video generation model"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    duration = body.get("duration")
    if duration is not None and (
        not isinstance(duration, int)
        or isinstance(duration, bool)
        or duration not in model["supported_durations"]
    ):
        allowed = ", ".join(str(d) for d in model["supported_durations"])
        return f"Unsupported duration {duration} for {model['id']}; supported: {allowed}"
    for key, listed in (
        ("aspect_ratio", "supported_aspect_ratios"),
        ("resolution", "supported_resolutions"),
        ("size", "supported_sizes"),
    ):
        value = body.get(key)
        if value is not None and value not in (model[listed] or []):
            allowed = ", ".join(model[listed] or []) or "none"
            return f"Unsupported {key} {value!r} for {model['id']}; supported: {allowed}"
    if "frame_images" in body:
        problem = _frame_problem(model, body["frame_images"], entry)
        if problem is not None:
            return problem
    callback = body.get("callback_url")
    https = isinstance(callback, str) and urlsplit(callback).scheme == "https"
    if callback is not None and not https:
        return "callback_url must be an HTTPS URL"
    return None


def add_routes(app: web.Application, scenario: Scenario, recorder: Recorder) -> None:
    """Serve the OpenRouter video API on ``app``, driven by ``scenario``."""
    state = OpenRouterState()
    app[STATE_KEY] = state
    watchers = Watchers(app)

    async def models(request: web.Request) -> web.Response:
        await record(request, recorder)
        if scenario.catalogue_delay:
            await asyncio.sleep(scenario.catalogue_delay)
        refusal = check_bearer(request, scenario) or injected_error(scenario)
        if refusal is not None:
            return refusal
        if scenario.catalogue_body is not None:
            return web.Response(text=scenario.catalogue_body, content_type="application/json")
        return web.json_response({"data": MODELS})

    async def key(request: web.Request) -> web.Response:
        # GET /api/v1/key: the calling key's details, 401 for a wrong key
        # (https://openrouter.ai/docs/api/api-reference/api-keys/get-current-key).
        await record(request, recorder)
        refusal = check_bearer(request, scenario) or injected_error(scenario)
        if refusal is not None:
            return refusal
        info = {"label": "sk-or-v1-abc...xyz", "limit": None, "usage": 0, "is_free_tier": False}
        return web.json_response({"data": info})

    async def submit(request: web.Request) -> web.Response:
        entry, refusal = await submit_gate(request, recorder, scenario, check_bearer, "json")
        if refusal is not None:
            return refusal
        if scenario.insufficient_balance:
            return or_error(
                402, "Insufficient credits. Add more using https://openrouter.ai/credits"
            )
        body = entry["json"]
        problem = validate(body, entry)
        if problem is not None:
            return or_error(400, problem)
        recorder.submissions += 1
        job = FakeJob(uuid.uuid4().hex, str(request.url.origin()), body)
        state.jobs[job.id] = job
        callback = body.get("callback_url")
        if callback:
            target = None
            if scenario.callback_origin is not None:
                # Standing in for the bot's reverse proxy: same path, the test's origin.
                target = scenario.callback_origin.rstrip("/") + urlsplit(callback).path
            view = partial(job_view, scenario=scenario)
            watchers.start(
                push_when_done(job, scenario, view, callback, state.callbacks_sent, target=target)
            )
        answer = {"id": job.id, "polling_url": f"{job.origin}{PATH}/{job.id}", "status": "pending"}
        return web.json_response(answer, status=202)

    find = job_finder(
        scenario,
        check_bearer,
        state.jobs,
        "job_id",
        lambda: or_error(404, "Video generation job not found"),
    )
    poll = poll_route(
        recorder, scenario, find, "id", lambda j, s: web.json_response(job_view(j, s, scenario))
    )

    async def content(request: web.Request) -> web.Response:
        await record(request, recorder)
        found = find(request)
        if isinstance(found, web.Response):
            return found
        if found.outcome != "succeeded" or scenario.openrouter_end != "completed":
            return or_error(400, "Video generation is not completed")
        if request.query.get("index", "0") != "0":
            return or_error(400, "index out of range")
        if scenario.expired_content:
            return or_error(404, "Video content not found")
        return web.Response(body=SAMPLE_VIDEO.read_bytes(), content_type="video/mp4")

    app.router.add_get(PATH + "/models", models)
    app.router.add_get("/api/v1/key", key)
    app.router.add_post(PATH, submit)
    app.router.add_get(PATH + "/{job_id}", poll)
    app.router.add_get(PATH + "/{job_id}/content", content)
