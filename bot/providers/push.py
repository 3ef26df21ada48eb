"""Push completion: the provider calls ``PUBLIC_BASE_URL/hooks/<token>`` when a job ends.

When ``PUBLIC_BASE_URL`` is set, every ``generations`` job is submitted with its
own ``notify_hook`` URL. Its token is unguessable (``secrets.token_urlsafe(32)``),
bound to that one job and accepted once: a valid call wakes the job's poller,
which fetches the final state from the provider at once (the call's body is
never trusted). Polling stays on as a slow fallback, so a lost call only costs
time. A used or retired token answers 410, an unknown one 404.

Tokens are secrets: they never appear in logs (the access log is off).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from aiohttp import web

log = logging.getLogger(__name__)

HOOK_PATH = "/hooks/"
MEDIA_PATH = "/media/"  # videos the bot serves itself (bot.media.served)
RETIRED_MEMORY = 10_000  # used tokens remembered (for 410 rather than 404)
MAX_BODY = 256 * 1024  # a task JSON is a few hundred bytes


@dataclass(eq=False)
class Hook:
    """One job's push hook: its URL for the provider and the event its poller waits on."""

    token: str = field(repr=False)
    url: str = field(repr=False)
    fired: asyncio.Event = field(default_factory=asyncio.Event)


class HookRegistry:
    """Issues, accepts (once) and retires hook tokens."""

    def __init__(self, public_base_url: str) -> None:
        self.base = public_base_url.rstrip("/") + HOOK_PATH
        self._active: dict[str, Hook] = {}
        self._retired: OrderedDict[str, None] = OrderedDict()
        self.accepted = 0  # valid calls (for metrics and the bench)
        self.refused = 0  # unknown or reused tokens

    @property
    def active(self) -> int:
        """How many hooks wait for their call."""
        return len(self._active)

    def issue(self) -> Hook:
        """A fresh hook for one job."""
        token = secrets.token_urlsafe(32)
        hook = Hook(token, self.base + token)
        self._active[token] = hook
        return hook

    def discard(self, hook: Hook) -> None:
        """The job ended (or gave up): its token is no longer accepted."""
        if self._active.pop(hook.token, None) is not None:
            self._retire(hook.token)

    def accept(self, token: str) -> int:
        """Handle a call for ``token``; returns the HTTP status to answer."""
        hook = self._active.pop(token, None)
        if hook is None:
            self.refused += 1
            return 410 if token in self._retired else 404
        self._retire(token)
        self.accepted += 1
        hook.fired.set()
        return 204

    def _retire(self, token: str) -> None:
        self._retired[token] = None
        while len(self._retired) > RETIRED_MEMORY:
            self._retired.popitem(last=False)


class MediaFiles(Protocol):
    """Served videos by request name (``<token>.mp4``): :class:`bot.media.served.MediaStore`."""

    def find(self, name: str) -> Path | None:
        """The file to serve for ``name``, or None (unknown or expired)."""
        ...


@runtime_checkable
class PushCapable(Protocol):
    """A provider that can pass a per-job hook URL (``generations``)."""

    def use_hooks(self, hooks: HookRegistry) -> None:
        """Give every job submitted from now on its own hook from ``hooks``."""
        ...


class HookServer:
    """The bot's public listener (its own port: ``HOOK_HOST``:``HOOK_PORT``).

    It takes hook calls when ``registry`` is given, and serves the videos of
    ``media`` (:mod:`bot.media.served`) at ``/media/<token>.mp4`` when given.
    """

    def __init__(
        self,
        registry: HookRegistry | None,
        host: str,
        port: int,
        *,
        media: MediaFiles | None = None,
    ) -> None:
        self.registry = registry
        self.media = media
        self.host = host
        self.port = port
        app = web.Application(client_max_size=MAX_BODY)
        if registry is not None:
            app.router.add_post(HOOK_PATH + "{token}", self._call)
        if media is not None:
            app.router.add_get(MEDIA_PATH + "{name}", self._media)
        # No access log: every path carries a secret token.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._started = False

    async def _media(self, request: web.Request) -> web.StreamResponse:
        assert self.media is not None
        path = self.media.find(request.match_info["name"])
        if path is None:
            return web.Response(status=404, text="This link has expired or does not exist.")
        headers = {
            "Content-Type": "video/mp4",
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(path, headers=headers)

    async def _call(self, request: web.Request) -> web.Response:
        assert self.registry is not None
        status = self.registry.accept(request.match_info["token"])
        if status == 204:
            log.debug("push hook accepted (%d active)", self.registry.active)
        else:
            log.info("push hook refused with %d (unknown or reused token)", status)
        return web.Response(status=status)

    async def start(self) -> None:
        """Bind and serve (port 0 picks a free port, then ``port`` tells which)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self._started = True
        self.port = self._runner.addresses[0][1]
        log.info("public listener (hooks, served videos) on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop serving."""
        if self._started:
            await self._runner.cleanup()
            self._started = False
