"""Real objects for the job tests: a SQLite store, a tiny provider, a messenger stand-in.

The provider implements :class:`bot.providers.base.Provider` and yields exactly
the events a test pushes; the messenger records what the member would see. The
member's image is served by a real aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from bot.config import ProviderSettings, Settings
from bot.db import Job, Store
from bot.jobs.context import RunContext
from bot.jobs.request import JobRequest
from bot.jobs.slots import SlotQueue
from bot.providers.base import Capabilities, Event, ModelSpec, Provider, VideoRequest
from bot.ui.edits import EditBudget, EditScheduler
from bot.ui.messenger import JobMessenger

USER = 1001
GUILD = 2002
CHANNEL = 3003
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64)
SPEC = ModelSpec("sora-2", (4, 8), {"portrait": (72, 128), "landscape": (128, 72)})


class TinyProvider:
    """A provider whose jobs yield what the test pushes to ``events`` (None ends the stream).

    ``idle`` is set whenever the job has consumed everything pushed so far, so a
    test waits for the run to act on an event without sleeping.
    """

    name = "tiny"

    def __init__(self, *, resumable: bool = True, cancellable: bool = True) -> None:
        self.capabilities = Capabilities(
            models=(SPEC,), resumable=resumable, cancellable=cancellable
        )
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()
        self.idle = asyncio.Event()
        self.generating = asyncio.Event()  # a job was submitted
        self.submitted: list[VideoRequest] = []
        self.resumed: list[str] = []
        self.cancelled: list[str] = []

    def push(self, *events: Event) -> None:
        """Queue events for the running job."""
        self.idle.clear()
        for event in events:
            self.events.put_nowait(event)

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        self.submitted.append(request)
        self.generating.set()
        async for event in self._stream():
            yield event

    async def resume(self, task_id: str) -> AsyncIterator[Event]:
        self.resumed.append(task_id)
        async for event in self._stream():
            yield event

    async def cancel(self, task_id: str) -> None:
        self.cancelled.append(task_id)

    async def _stream(self) -> AsyncIterator[Event]:
        while True:
            if self.events.empty():
                self.idle.set()
            event = await self.events.get()
            if event is None:
                return
            yield event


def _is_file(path: Path | None) -> bool:
    return path is not None and path.is_file()


class FakeMessenger:
    """Records the job's message as the member would see it (the messenger interface)."""

    channel_id = CHANNEL
    via_interaction = True
    upload_limit = 10 * 1024 * 1024

    def __init__(self) -> None:
        self.edits: list[str] = []
        self.finals: list[tuple[str, bool, str | None]] = []
        self.finished = asyncio.Event()

    async def edit(self, content: str, buttons: str | None) -> None:
        self.edits.append(content)

    async def finish(self, content: str, video: Path | None, buttons: str | None, **_: Any) -> None:
        self.finals.append((content, _is_file(video), buttons))
        self.finished.set()

    def as_messenger(self) -> JobMessenger:
        """Typed as the real messenger, whose interface this implements."""
        return cast(JobMessenger, self)


def make_settings(**overrides: Any) -> Settings:
    """Settings as the job tests use them: 3 credits a day, 2 jobs at once."""
    provider = ProviderSettings(
        protocol="generations", base_url="http://127.0.0.1:9", api_key="sk-unused"
    )
    base = Settings(
        discord_token="t",
        provider=provider,
        quota_per_day=3,
        max_concurrent_jobs=2,
        max_jobs_per_user=3,
        progress_interval=0.01,
        edit_budget=EditBudget.unlimited(),
    )
    return replace(base, **overrides)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, migrated database file."""
    async with Store.open(tmp_path / "bot.sqlite3") as opened:
        yield opened


@pytest.fixture
async def image_url() -> AsyncIterator[str]:
    """A real PNG served over HTTP on 127.0.0.1 (trusted like DISCORD_API_BASE_URL)."""
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 90)).save(buffer, "PNG")
    body = buffer.getvalue()

    async def photo(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get("/photo.png", photo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/photo.png"
    await runner.cleanup()


def request_for(image_url: str, **overrides: Any) -> JobRequest:
    """A validated request of member USER in GUILD."""
    base = JobRequest(
        user_id=USER,
        guild_id=GUILD,
        channel_id=CHANNEL,
        prompt="a fox runs",
        model=SPEC,
        duration=4,
        orientation="portrait",
        hd=False,
        image_url=image_url,
        image_size=1000,
        cost=1,
    )
    return replace(base, **overrides)


async def reserve(
    store: Store, request: JobRequest, protocol: str = "tiny", **stored: object
) -> Job:
    """Reserve the request's credit as admission would (``stored``: e.g. the interaction token)."""
    return await store.reserve(
        user_id=request.user_id,
        guild_id=request.guild_id,
        channel_id=request.channel_id,
        prompt=request.prompt,
        options=request.options,
        image_url=request.image_url,
        protocol=protocol,
        cost=request.cost or 1,
        daily_limit=10,
        max_running=10,
        **stored,  # type: ignore[arg-type]
    )


def context_for(
    store: Store, provider: TinyProvider, session: aiohttp.ClientSession, image_url: str
) -> RunContext:
    """The run's dependencies, trusting the image server's origin."""
    settings = make_settings()
    return RunContext(
        store=store,
        provider=cast(Provider, provider),
        session=session,
        slots=SlotQueue(settings.max_concurrent_jobs),
        edits=EditScheduler(settings.progress_interval, settings.edit_budget),
        media=settings.provider,
        image_origins=(image_url,),
    )


async def used(store: Store, user_id: int = USER) -> int:
    """Credits the member has used today."""
    return (await store.usage(user_id, 10)).used
