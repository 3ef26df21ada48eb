"""A provider's pacing hint of 0 through the real poll loop: paced polls, never a busy loop.

A loopback server answers every status poll with ``openai-poll-after-ms: 0`` or a
503/429 with ``Retry-After: 0``. The poll clock's sleeps are virtual (recorded,
not waited), so the test counts requests against virtual time, not wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bot.config import ProviderSettings
from bot.providers.base import Completed, Event, VideoRequest
from bot.providers.http import PollClock
from bot.providers.videos import VideosProvider
from tests.support.providers import collect, make_image

POLL_INTERVAL = 0.5
POLLS_BEFORE_DONE = 30


@dataclass
class HintZeroServer:
    """Answers ``/v1/videos``: hint 0 on the submit and on every status answer."""

    failure: int  # 200 (queued), or 503/429 with Retry-After: 0, every other poll
    polls: int = 0
    submits: int = 0
    url: str = ""

    async def submit(self, request: web.Request) -> web.Response:
        await request.read()
        self.submits += 1
        headers = {"openai-poll-after-ms": "0"}
        return web.json_response({"id": "vid_1", "status": "queued"}, headers=headers)

    async def status(self, request: web.Request) -> web.Response:
        self.polls += 1
        if self.polls > POLLS_BEFORE_DONE:
            done = {"id": "vid_1", "status": "completed", "url": f"{self.url}/files/v.mp4"}
            return web.json_response(done)
        if self.failure != 200 and self.polls % 2 == 0:
            return web.json_response(
                {"error": {"message": "slow down"}},
                status=self.failure,
                headers={"Retry-After": "0"},
            )
        headers = {"openai-poll-after-ms": "0"}
        return web.json_response({"id": "vid_1", "status": "queued"}, headers=headers)


@pytest.fixture
def virtual_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The poll clock's waits, recorded instead of slept (each still yields to the loop)."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(PollClock, "sleep", staticmethod(sleep))
    return delays


@pytest.fixture
async def serve() -> AsyncIterator[list[web.AppRunner]]:
    runners: list[web.AppRunner] = []
    yield runners
    for runner in runners:
        await runner.cleanup()


async def start(server: HintZeroServer, runners: list[web.AppRunner]) -> ProviderSettings:
    app = web.Application()
    app.router.add_post("/v1/videos", server.submit)
    app.router.add_get("/v1/videos/{video_id}", server.status)
    runner = web.AppRunner(app)
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    return ProviderSettings(
        protocol="videos",
        base_url=server.url,
        api_key="sk-test-hint",
        request_timeout=5.0,
        job_timeout=3600.0,
        max_retries=0,  # the poll loop's own pacing, not the request retry's
        poll_interval=POLL_INTERVAL,
        poll_max_interval=8.0,
        retry_backoff=0.0,
    )


@pytest.mark.parametrize("failure", [200, 503, 429])
async def test_a_zero_hint_is_held_to_the_poll_interval(
    failure: int,
    session: aiohttp.ClientSession,
    virtual_sleeps: list[float],
    serve: list[web.AppRunner],
) -> None:
    server = HintZeroServer(failure)
    provider = VideosProvider(session, await start(server, serve))
    request = VideoRequest("a kite", make_image(720, 1280), 4, "portrait", "sora-2")
    events: list[Event] = await collect(provider.generate(request))
    assert isinstance(events[-1], Completed)
    assert server.submits == 1 and server.polls == POLLS_BEFORE_DONE + 1
    # One wait before each poll (the first follows the submit), none shorter than
    # the interval: in virtual time the provider saw at most one poll per interval.
    assert len(virtual_sleeps) == server.polls
    assert min(virtual_sleeps) >= POLL_INTERVAL
    assert sum(virtual_sleeps) >= server.polls * POLL_INTERVAL
