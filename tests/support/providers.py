"""Helpers for provider tests: fast settings, test images, stream checks, scripted answers.

Imported by name (``from provider_support import ...``): pytest puts this directory
on ``sys.path`` for the test modules in it.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from PIL import Image

from bot.config import ProviderSettings
from bot.fake_provider.app import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.providers.base import END_EVENTS, Event, Failed, PreparedImage, Submitted
from bot.providers.errors import ProviderError

# Distinctive, so a leak into a log line or an error message is easy to spot.
API_KEY = "sk-test-0123456789abcdefSECRET"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_settings(fake: FakeProvider, **overrides: Any) -> ProviderSettings:
    """Settings pointing at ``fake`` with tiny delays, so tests take milliseconds."""
    settings = ProviderSettings(
        protocol=fake.protocol,  # type: ignore[arg-type]
        base_url=fake.url,
        api_key=fake.scenario.api_key,
        request_timeout=5.0,
        job_timeout=10.0,
        max_retries=2,
        poll_interval=0.01,
        poll_max_interval=0.02,
        retry_backoff=0.01,
    )
    return replace(settings, **overrides)


def make_image(width: int = 720, height: int = 1280, fmt: str = "PNG", **kw: Any) -> PreparedImage:
    """A real encoded image of exactly ``width`` x ``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=fmt)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    return PreparedImage(buffer.getvalue(), mime, width, height, **kw)


async def collect(events: AsyncIterator[Event], limit: int = 5000) -> list[Event]:
    """Every event of a stream, checking the one-end-event-last contract on the way."""
    seen: list[Event] = []
    async for event in events:
        assert not any(isinstance(e, END_EVENTS) for e in seen), "event after the end"
        seen.append(event)
        assert len(seen) < limit, "runaway event stream"
    assert seen and isinstance(seen[-1], END_EVENTS), f"no end event: {seen}"
    assert sum(isinstance(e, Submitted) for e in seen) <= 1
    return seen


def scripted_polls(path_prefix: str, answers: list[Any]) -> Callable[..., Any]:
    """Middleware replacing status-poll answers (GETs under ``path_prefix``) with ``answers``.

    Each answer is a dict (sent as JSON) or a str (sent raw as "JSON"); the last
    one repeats. The fake still records and authenticates the request first.
    """
    count = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal count
        response = await handler(request)
        poll = request.method == "GET" and request.path.startswith(path_prefix)
        if not poll or request.path.endswith("/content") or response.status != 200:
            return response
        answer = answers[min(count, len(answers) - 1)]
        count += 1
        if isinstance(answer, str):
            return web.Response(text=answer, content_type="application/json")
        return web.json_response(answer)

    return middleware


def rewrite_submit(path: str, change: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """Middleware passing the submit answer (POST ``path``) through ``change``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method != "POST" or request.path != path or response.status != 200:
            return response
        assert isinstance(response, web.Response) and response.body is not None
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        return web.json_response(change(body))

    return middleware


@dataclass
class HookInbox:
    """What the stand-in notify_hook endpoint received."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def hook_receiver() -> AsyncIterator[HookInbox]:
    """A tiny server standing in for the bot's public notify_hook endpoint."""
    inbox = HookInbox()

    async def hook(request: web.Request) -> web.Response:
        inbox.received.append(await request.json())
        inbox.arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    inbox.url = f"http://{host}:{port}/hook"
    try:
        yield inbox
    finally:
        await runner.cleanup()


def fast_scenario(**kw: Any) -> Scenario:
    """A fast, well-behaved provider unless ``kw`` says otherwise."""
    kw.setdefault("step_delay", 0.01)
    kw.setdefault("api_key", API_KEY)
    return Scenario(**kw)


def failure(events: list[Event]) -> ProviderError:
    """The error of a stream that must have failed."""
    assert isinstance(events[-1], Failed), events
    return events[-1].error
