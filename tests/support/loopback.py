"""A tiny scripted HTTP server on 127.0.0.1 that records every request it receives.

Used as a stand-in for hosts a download may or may not reach: the provider's own
file host (trusted) and an "internal endpoint" such as a cloud metadata service,
which a guarded download must never contact (tests assert ``requests == []``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

# The smallest plausible MP4 start: a 24-byte ftyp box, then an empty mdat box.
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08mdat"
WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 16


@dataclass
class Route:
    """What one path answers: a body with a status, or a redirect to ``location``."""

    body: bytes = b""
    status: int = 200
    location: str | None = None
    content_type: str = "application/octet-stream"


@dataclass
class LoopbackServer:
    """Serves ``routes`` by path (404 otherwise) and records each request's path."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        headers = {"Location": route.location} if route.location else {}
        return web.Response(
            status=route.status, body=route.body, headers=headers, content_type=route.content_type
        )


@asynccontextmanager
async def loopback_server(**routes: Route) -> AsyncIterator[LoopbackServer]:
    """A :class:`LoopbackServer` on a free 127.0.0.1 port; keyword names become ``/name``."""
    server = LoopbackServer({f"/{name}": route for name, route in routes.items()})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    async with TestServer(app, host="127.0.0.1") as test_server:
        server.url = f"http://127.0.0.1:{test_server.port}"
        yield server
