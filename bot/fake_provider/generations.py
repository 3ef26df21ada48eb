"""Fake ``generations`` task API: ``/v2/videos/generations`` submit and query.

Also plays the provider's side of ``notify_hook``: when a task given a hook
ends, the final task JSON is POSTed there once, whether or not anybody polls.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from bot.fake_provider.common import (
    SIZE_MISMATCH,
    FakeJob,
    State,
    check_auth,
    error_response,
    image_size,
)
from bot.fake_provider.routes import Watchers, job_finder, poll_route, push_when_done, submit_gate
from bot.fake_provider.scenario import Recorder, Scenario

PATH = "/v2/videos/generations"
SIZES = {"9:16": (720, 1280), "16:9": (1280, 720)}
DURATIONS = {"10", "15", "25"}
PRO_MODELS = {"sora-2-pro"}
_UPPER = {"queued": "QUEUED", "running": "IN_PROGRESS", "succeeded": "SUCCESS", "failed": "FAILURE"}
_LOWER = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "succeeded",
    "failed": "failed",
}


@dataclass
class GenerationsState:
    """The fake's tasks and the hook deliveries it made."""

    tasks: dict[str, FakeJob] = field(default_factory=dict)
    hooks_sent: list[dict[str, Any]] = field(default_factory=list)


STATE_KEY = web.AppKey("generations_state", GenerationsState)


def task_view(job: FakeJob, state: State, scenario: Scenario) -> dict[str, Any]:
    """The task JSON of a status answer, shaped by the scenario's quirks."""
    names = _LOWER if scenario.lowercase_status else _UPPER
    status = names[state]
    if state == "queued" and not scenario.lowercase_status and job.polls <= 1:
        status = "NOT_START"
    if state == "running" and scenario.unknown_status is not None:
        status = scenario.unknown_status
    percent = 0 if state == "queued" else job.percent
    stamp = str if scenario.string_timestamps else int
    view: dict[str, Any] = {
        "task_id": job.id,
        "status": status,
        "progress": percent if scenario.numeric_progress else f"{percent}%",
        "fail_reason": scenario.fail_reason if state == "failed" else "",
        "submit_time": stamp(job.created_wall),
        "start_time": None if state == "queued" else stamp(job.created_wall + 1),
        "finish_time": stamp(job.finished_wall) if job.finished_wall else None,
        "data": None,
    }
    if state == "succeeded":
        url = scenario.result_url_override or job.video_url
        where = scenario.url_field
        if where == "data.output":
            view["data"] = {"output": url}
        elif where == "data.outputs":
            view["data"] = {"outputs": [url]}
        else:
            view[where] = url
    return view


def _validate(body: Any, scenario: Scenario) -> str | None:
    """Why the submit body is refused, or ``None`` when it is acceptable."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return "prompt is required"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model is required"
    images = body.get("images")
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        return "images must be an array of strings"
    ratio = body.get("aspect_ratio", "16:9")
    if ratio not in SIZES:
        return "aspect_ratio must be 16:9 or 9:16"
    duration = str(body.get("duration", "10"))
    if duration not in DURATIONS:
        return "duration must be one of 10, 15, 25"
    if duration == "25" and model not in PRO_MODELS:
        return "Only sora-2-pro supports 25 seconds"
    if body.get("hd") and model not in PRO_MODELS:
        return "hd is only supported by sora-2-pro"
    if scenario.check_image_size and images and images[0].startswith("data:"):
        try:
            data = base64.b64decode(images[0].split(",", 1)[1], validate=True)
        except (IndexError, binascii.Error):
            return "Invalid image data URL"
        size = image_size(data)
        if size is None:
            return "Invalid image"
        if size != SIZES[ratio]:
            return SIZE_MISMATCH
    return None


def add_routes(app: web.Application, scenario: Scenario, recorder: Recorder) -> None:
    """Serve the generations protocol on ``app``, driven by ``scenario``."""
    state = GenerationsState()
    app[STATE_KEY] = state
    watchers = Watchers(app)
    view = partial(task_view, scenario=scenario)

    async def submit(request: web.Request) -> web.Response:
        entry, refusal = await submit_gate(request, recorder, scenario, check_auth, "json")
        if refusal is not None:
            return refusal
        if scenario.insufficient_balance:
            return error_response(403, type_="insufficient_user_quota")
        body = entry["json"]
        problem = _validate(body, scenario)
        if problem is not None:
            return error_response(400, problem, type_="invalid_request_error")
        recorder.submissions += 1
        job = FakeJob(str(uuid.uuid4()), str(request.url.origin()), body)
        state.tasks[job.id] = job
        hook = body.get("notify_hook")
        if isinstance(hook, str) and hook.startswith(("http://", "https://")):
            watchers.start(push_when_done(job, scenario, view, hook, state.hooks_sent))
        return web.json_response({"task_id": job.id})

    find = job_finder(
        scenario,
        check_auth,
        state.tasks,
        "task_id",
        lambda: error_response(404, "task not found", type_="invalid_request_error"),
    )
    app.router.add_post(PATH, submit)
    app.router.add_get(
        PATH + "/{task_id}",
        poll_route(recorder, scenario, find, "task_id", lambda j, s: web.json_response(view(j, s))),
    )
