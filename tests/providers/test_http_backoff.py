"""Request retries against a loopback server: a ``Retry-After`` hint lengthens the wait, never
shortens it below the normal exponential backoff (``Retry-After: 0`` is no burst).

The waits are recorded instead of slept (``ProviderHTTP.sleep`` swapped), so the test
counts requests and virtual waits, never wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bot.config import ProviderSettings
from bot.providers.errors import ProviderError
from bot.providers.http import ProviderHTTP

BACKOFF = 0.5
RETRIES = 3


@dataclass
class Failing:
    """Answers every request with ``status`` and a ``Retry-After`` of ``hint``."""

    status: int
    hint: str
    requests: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(
            {"error": {"message": "busy"}}, status=self.status, headers={"Retry-After": self.hint}
        )


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits, recorded instead of slept (each still yields to the loop)."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(ProviderHTTP, "sleep", staticmethod(sleep))
    return delays


@pytest.fixture
async def runners() -> AsyncIterator[list[web.AppRunner]]:
    started: list[web.AppRunner] = []
    yield started
    for runner in started:
        await runner.cleanup()


async def client(
    server: Failing, session: aiohttp.ClientSession, runners: list[web.AppRunner]
) -> ProviderHTTP:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    runners.append(runner)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    settings = ProviderSettings(
        protocol="videos",
        base_url=f"http://127.0.0.1:{runner.addresses[0][1]}",
        api_key="sk-test-backoff",
        request_timeout=5.0,
        max_retries=RETRIES,
        retry_backoff=BACKOFF,
    )
    return ProviderHTTP(session, settings)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_zero_keeps_the_normal_backoff(
    status: int,
    session: aiohttp.ClientSession,
    waits: list[float],
    runners: list[web.AppRunner],
) -> None:
    server = Failing(status, "0")
    http = await client(server, session, runners)
    with pytest.raises(ProviderError) as raised:
        await http.json("GET", "/v1/videos/vid_1")
    assert raised.value.status == status
    assert server.requests == RETRIES + 1  # bounded by PROVIDER_MAX_RETRIES
    assert waits == [BACKOFF, BACKOFF * 2, BACKOFF * 4]  # not [0, 0, 0]


async def test_a_longer_hint_lengthens_the_wait(
    session: aiohttp.ClientSession, waits: list[float], runners: list[web.AppRunner]
) -> None:
    server = Failing(503, "7")
    http = await client(server, session, runners)
    with pytest.raises(ProviderError):
        await http.json("GET", "/v1/videos/vid_1")
    assert server.requests == RETRIES + 1
    assert waits == [7.0, 7.0, 7.0]
