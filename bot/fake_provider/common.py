"""What the fake task APIs (generations, videos) share: auth, faults, recording, job clock.

The fake is a test double with real HTTP, so it is strict where the real
providers are strict (auth, image size, option values) and records everything
the bot sent for tests to assert on.
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from bot.fake_provider.scenario import Recorder, Scenario

SAMPLE_VIDEO = Path(__file__).resolve().parent.parent / "assets" / "sample.mp4"
SCENARIO_KEY = web.AppKey("scenario", Scenario)
RECORDER_KEY = web.AppKey("recorder", Recorder)

SIZE_MISMATCH = "Inpaint image must match the requested width and height"

_MESSAGES = {
    400: "Bad request",
    401: "Invalid signature",
    403: "Insufficient account balance",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests, please slow down",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
}


def error_response(
    status: int,
    message: str | None = None,
    *,
    scenario: Scenario | None = None,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> web.Response:
    """An ``{"error": {message, type, param, code}}`` answer, with Retry-After where asked."""
    error = {
        "message": message or _MESSAGES.get(status, f"HTTP {status}"),
        "type": type_ or str(status),
        "param": param,
        "code": code,
    }
    headers = {}
    if scenario is not None and scenario.retry_after is not None and status in (429, 503):
        headers["Retry-After"] = f"{scenario.retry_after:g}"
    return web.json_response({"error": error}, status=status, headers=headers)


async def record(
    request: web.Request, recorder: Recorder, body: Literal["json", "form"] | None = None
) -> dict[str, Any]:
    """Append the request to ``recorder.requests`` (with its decoded body) and return it."""
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
        "time": time.monotonic(),
    }
    if body == "json" or (body == "form" and request.content_type == "application/json"):
        try:
            entry["json"] = await request.json()
        except ValueError:
            entry["json"] = None
    elif body == "form":
        form: dict[str, Any] = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                form[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
            else:
                form[name] = value
        entry["form"] = form
    recorder.requests.append(entry)
    return entry


def check_auth(request: web.Request, scenario: Scenario) -> web.Response | None:
    """A 401 answer unless the Authorization header carries the key in an accepted scheme."""
    header = request.headers.get("Authorization", "")
    accepted = {
        "bearer": {f"Bearer {scenario.api_key}"},
        "raw": {scenario.api_key},
        "any": {f"Bearer {scenario.api_key}", scenario.api_key},
    }[scenario.auth_scheme]
    if header in accepted:
        return None
    return error_response(401, "Invalid signature", type_="401")


def injected_error(scenario: Scenario, queue: list[int] | None = None) -> web.Response | None:
    """The fault to answer instead of the real thing: ``error_forever``, else the next of ``queue``.

    ``queue`` (``submit_errors``/``poll_errors``) is consumed, one status per request.
    """
    if scenario.error_forever is not None:
        return error_response(scenario.error_forever, scenario=scenario)
    if queue:
        return error_response(queue.pop(0), scenario=scenario)
    return None


async def delay(request: web.Request, delays: list[float]) -> bool:
    """Wait out the next of ``delays`` (consumed); False when the client hung up meanwhile."""
    if not delays:
        return True
    await asyncio.sleep(delays.pop(0))
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def cut_answer(request: web.Request) -> web.StreamResponse:
    """Start a JSON answer, send a few bytes of it, then drop the connection."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "512"})
    await resp.prepare(request)
    await resp.write(b'{"status": "IN_PRO')
    if request.transport is not None:
        request.transport.close()
    return resp


def broken_json(job_id: str, key: str) -> web.Response:
    """A status answer cut off in the middle of its JSON (with the right Content-Type)."""
    return web.Response(text="{" + f'"{key}": "{job_id}', content_type="application/json")


def image_size(data: bytes) -> tuple[int, int] | None:
    """Pixel size of an encoded image, or ``None`` if Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def thumbnail_png() -> bytes:
    """A tiny PNG standing in for a video's thumbnail/preview."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


State = Literal["queued", "running", "succeeded", "failed"]


@dataclass
class FakeJob:
    """One job at the fake provider and where it stands."""

    id: str
    origin: str  # the server's own http://host:port, for result URLs
    request: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    created_wall: int = field(default_factory=lambda: int(time.time()))
    polls: int = 0
    running_seen: bool = False  # a poll has reported it running
    malformed_sent: bool = False
    malformed: int = 0  # broken answers sent for Scenario.malformed_polls
    status_requests: int = 0  # status polls received, for Scenario.cut_poll_at
    outcome: Literal["succeeded", "failed"] | None = None
    finished_wall: int | None = None
    percent: int = 0

    @property
    def video_url(self) -> str:
        """Where the fake serves this job's result."""
        return f"{self.origin}/files/{self.id}.mp4"

    def fault(self, scenario: Scenario) -> str | None:
        """The status-poll fault this request gets: "cut", "malformed" or None."""
        self.status_requests += 1
        if scenario.cut_poll_at == self.status_requests:
            return "cut"
        if scenario.malformed_json and not self.malformed_sent:
            self.malformed_sent = True
            return "malformed"
        if self.malformed < scenario.malformed_polls:
            self.malformed += 1
            return "malformed"
        return None

    def settle(self, scenario: Scenario, *, by_poll: bool) -> State:
        """Move the job along the scenario's clock and return its state now.

        Progress follows wall time since submit (``steps * step_delay`` in all).
        A poll sees the job running at least once before it ends, so a client
        always has progress to show however slow the test machine is.
        """
        if self.outcome is not None:
            return self.outcome
        if by_poll:
            self.polls += 1
            if self.polls <= scenario.queued_polls:
                return "queued"
        total = scenario.steps * scenario.step_delay
        elapsed = time.monotonic() - self.created
        percent = 100.0 if total <= 0 else min(100.0, elapsed / total * 100)
        if scenario.never_finish:
            percent = min(percent, 99.0)
        may_end = self.running_seen or not by_poll
        if scenario.fail_at is not None and percent >= scenario.fail_at and may_end:
            return self._end("failed", scenario.fail_at)
        if percent >= 100 and may_end:
            return self._end("succeeded", 100)
        if by_poll:
            self.running_seen = True
            self.percent = max(self.percent, min(int(percent), 99))
        return "running"

    def _end(self, outcome: Literal["succeeded", "failed"], percent: int) -> State:
        self.outcome = outcome
        self.percent = percent
        self.finished_wall = int(time.time())
        return outcome
