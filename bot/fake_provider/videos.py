"""Fake OpenAI-style ``videos`` API: create, retrieve, content, delete.

As in https://platform.openai.com/docs/api-reference/videos.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.fake_provider.common import (
    SAMPLE_VIDEO,
    SIZE_MISMATCH,
    FakeJob,
    State,
    check_auth,
    error_response,
    image_size,
    record,
    thumbnail_png,
)
from bot.fake_provider.routes import job_finder, poll_route, submit_gate
from bot.fake_provider.scenario import Recorder, Scenario

log = logging.getLogger(__name__)

PATH = "/v1/videos"
SECONDS = {"4", "8", "12"}
SIZES = {"720x1280", "1280x720"}
PRO_SIZES = {"1024x1792", "1792x1024"}
PRO_MODELS = {"sora-2-pro"}
EXPIRES_AFTER = 3600  # download links live about an hour
_STATUS = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
}
_POLICY = re.compile(r"polic|moderat|safety|violat", re.IGNORECASE)


@dataclass
class VideosState:
    """The fake's videos, by id."""

    videos: dict[str, FakeJob] = field(default_factory=dict)


STATE_KEY = web.AppKey("videos_state", VideosState)


def video_object(job: FakeJob, state: State, scenario: Scenario) -> dict[str, Any]:
    """The video object of create/retrieve answers, shaped by the scenario's quirks."""
    stamp = str if scenario.string_timestamps else int
    finished = job.finished_wall
    view: dict[str, Any] = {
        "id": job.id,
        "object": "video",
        "status": scenario.unknown_status
        if state == "running" and scenario.unknown_status is not None
        else _STATUS[state],
        "progress": 0 if state == "queued" else job.percent,
        "model": job.request.get("model", "sora-2"),
        "seconds": job.request.get("seconds", "4"),
        "size": job.request.get("size", "720x1280"),
        "created_at": stamp(job.created_wall),
        "completed_at": stamp(finished) if finished and state == "succeeded" else None,
        "expires_at": stamp(finished + EXPIRES_AFTER)
        if finished and state == "succeeded"
        else None,
        "error": None,
    }
    if state == "failed":
        code = "moderation_blocked" if _POLICY.search(scenario.fail_reason) else "generation_failed"
        view["error"] = {"code": code, "message": scenario.fail_reason}
    if state == "succeeded" and scenario.sora_video_url:
        view["soraVideoUrl"] = job.video_url
    return view


def _validate(fields: dict[str, Any], scenario: Scenario) -> tuple[str, str | None] | None:
    """``(message, param)`` saying why the create request is refused, or ``None``."""
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required", "prompt"
    model = fields.get("model", "sora-2")
    if str(fields.get("seconds", "4")) not in SECONDS:
        return "seconds must be one of 4, 8, 12", "seconds"
    size = fields.get("size", "720x1280")
    if size in PRO_SIZES and model not in PRO_MODELS:
        return f"size {size} is only supported by sora-2-pro", "size"
    if size not in SIZES | PRO_SIZES:
        return f"size must be one of {', '.join(sorted(SIZES | PRO_SIZES))}", "size"
    image = fields.get("input_reference")
    if image is not None and scenario.check_image_size:
        if not isinstance(image, dict):
            return "input_reference must be a file", "input_reference"
        actual = image_size(image["data"])
        if actual is None:
            return "input_reference must be a jpeg, png or webp image", "input_reference"
        if f"{actual[0]}x{actual[1]}" != size:
            return SIZE_MISMATCH, "input_reference"
    return None


def add_routes(app: web.Application, scenario: Scenario, recorder: Recorder) -> None:
    """Serve the videos protocol on ``app``, driven by ``scenario``."""
    state = VideosState()
    app[STATE_KEY] = state

    def paced(body: dict[str, Any]) -> web.Response:
        headers = {}
        if scenario.poll_after_ms is not None:
            headers["openai-poll-after-ms"] = str(scenario.poll_after_ms)
        return web.json_response(body, headers=headers)

    find = job_finder(
        scenario,
        check_auth,
        state.videos,
        "video_id",
        lambda: error_response(404, "Video not found", type_="invalid_request_error"),
    )

    async def create(request: web.Request) -> web.Response:
        entry, refusal = await submit_gate(request, recorder, scenario, check_auth, "form")
        if refusal is not None:
            return refusal
        if scenario.insufficient_balance:
            return error_response(403, type_="insufficient_user_quota")
        fields = entry.get("form", entry.get("json"))
        if not isinstance(fields, dict):
            return error_response(400, "Request body must be a form", type_="invalid_request_error")
        problem = _validate(fields, scenario)
        if problem is not None:
            return error_response(400, problem[0], type_="invalid_request_error", param=problem[1])
        recorder.submissions += 1
        job = FakeJob(f"video_{uuid.uuid4().hex}", str(request.url.origin()), fields)
        state.videos[job.id] = job
        return paced(video_object(job, "queued", scenario))

    async def content(request: web.Request) -> web.Response:
        await record(request, recorder)
        found = find(request)
        if isinstance(found, web.Response):
            return found
        if found.outcome != "succeeded":
            # Not ready (or failed): a conflict, not "gone", so clients can tell them apart.
            return error_response(409, "Video is not ready", type_="invalid_request_error")
        if scenario.expired_content:
            return error_response(
                404, "Video content has expired", type_="invalid_request_error", code="expired"
            )
        variant = request.query.get("variant", "video")
        if variant == "thumbnail":
            return web.Response(body=thumbnail_png(), content_type="image/png")
        if variant != "video":
            return error_response(400, f"Unknown variant {variant}", param="variant")
        if scenario.content_json:
            expires = int(found.finished_wall or 0) + EXPIRES_AFTER
            return web.json_response({"url": found.video_url, "expires_at": expires})
        return web.Response(body=SAMPLE_VIDEO.read_bytes(), content_type="video/mp4")

    async def delete(request: web.Request) -> web.Response:
        await record(request, recorder)
        found = find(request)
        if isinstance(found, web.Response):
            return found
        del state.videos[found.id]
        recorder.deleted.append(found.id)
        return web.json_response({"id": found.id, "object": "video.deleted", "deleted": True})

    app.router.add_post(PATH, create)
    app.router.add_get(
        PATH + "/{video_id}",
        poll_route(
            recorder, scenario, find, "id", lambda j, s: paced(video_object(j, s, scenario))
        ),
    )
    app.router.add_get(PATH + "/{video_id}/content", content)
    app.router.add_delete(PATH + "/{video_id}", delete)
