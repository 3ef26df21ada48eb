"""The fake provider server: one aiohttp app per wire protocol, on loopback.

Tests run it in-process (``async with FakeProvider("videos", scenario) as fake``)
and point a real provider client at ``fake.url``; ``sora-bot fake-provider``
runs it standalone (:func:`serve`) so the bot can be tried without paying.
Every protocol also serves ``GET /files/<anything>.mp4``: the result URLs the
fake hands out resolve to a tiny real mp4.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from types import TracebackType

from aiohttp import web

from bot.config import PROTOCOLS
from bot.fake_provider.common import RECORDER_KEY, SAMPLE_VIDEO, SCENARIO_KEY, record
from bot.fake_provider.scenario import Recorder, Scenario

__all__ = ["PROTOCOL_KEY", "SAMPLE_VIDEO", "FakeProvider", "build_app", "serve"]

log = logging.getLogger(__name__)

PROTOCOL_KEY = web.AppKey("protocol", str)


def build_app(
    protocol: str, scenario: Scenario | None = None, recorder: Recorder | None = None
) -> web.Application:
    """An app speaking ``protocol`` (one of ``PROTOCOLS``) plus ``/files``.

    The protocol's module (``bot.fake_provider.<protocol>``) is imported here, on
    demand, so one protocol's fake never needs the others'.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    scenario = scenario if scenario is not None else Scenario()
    recorder = recorder if recorder is not None else Recorder()
    app = web.Application()
    app[PROTOCOL_KEY] = protocol
    app[SCENARIO_KEY] = scenario
    app[RECORDER_KEY] = recorder
    module = importlib.import_module(f"bot.fake_provider.{protocol}")
    module.add_routes(app, scenario, recorder)

    async def files(request: web.Request) -> web.StreamResponse:
        await record(request, recorder)
        if not request.match_info["name"].endswith(".mp4"):
            raise web.HTTPNotFound()
        if scenario.expired_files is not None:  # a signed link past its expiry
            return web.Response(status=scenario.expired_files, text="Request has expired")
        if scenario.files_redirect is not None:
            raise web.HTTPFound(scenario.files_redirect)
        if scenario.files_body is not None:
            return web.Response(body=scenario.files_body, content_type="video/mp4")
        return web.FileResponse(SAMPLE_VIDEO, headers={"Content-Type": "video/mp4"})

    app.router.add_get("/files/{name}", files)
    return app


class FakeProvider:
    """A fake provider server running for the duration of an ``async with`` block."""

    def __init__(
        self,
        protocol: str,
        scenario: Scenario | None = None,
        *,
        recorder: Recorder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.protocol = protocol
        self.scenario = scenario if scenario is not None else Scenario()
        self.recorder = recorder if recorder is not None else Recorder()
        self.host = host
        self.port = port
        self.app = build_app(protocol, self.scenario, self.recorder)
        # Tests make hundreds of requests; per-request log lines only help a human.
        self._runner = web.AppRunner(self.app, access_log=log if access_log else None)
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The server's origin, ``http://host:port`` (use as the provider base URL)."""
        if self._url is None:
            raise RuntimeError("the fake provider has not been started")
        return self._url

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.port = port
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving and release the port (``url`` keeps naming where it was)."""
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    protocol: str, port: int, scenario: Scenario | None = None, *, host: str = "127.0.0.1"
) -> None:
    """Run a fake provider until cancelled (``sora-bot fake-provider``)."""
    async with FakeProvider(protocol, scenario, host=host, port=port, access_log=True) as fake:
        log.warning("fake %s provider listening on %s", protocol, fake.url)
        await asyncio.Event().wait()  # until Ctrl+C cancels the task
