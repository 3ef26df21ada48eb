"""Push completion: the provider calls ``PUBLIC_BASE_URL/hooks/<token>`` when a job ends.

When ``PUBLIC_BASE_URL`` is set, every ``generations`` job is submitted with its
own ``notify_hook`` URL. Its token is unguessable (``secrets.token_urlsafe(32)``),
bound to that one job and accepted once: a valid call wakes the job's poller,
which fetches the final state from the provider at once (the call's body is
never trusted). Polling stays on as a slow fallback, so a lost call only costs
time. A used or retired token answers 410, an unknown one 404.

With several processes on one database (``shared``), every hook is also
recorded there, by the SHA-256 of its token (:mod:`bot.db.leases`): a call
reaching a process that did not issue it is recorded in the database, and the
issuer's lease keeper hands it to the job's poller at its next tick
(:meth:`HookRegistry.wake`).

Tokens are secrets: they never appear in logs (the access log is off), and the
database keeps only their hash.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from aiohttp import web

from bot.db.leases import hook_hash

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


class SharedHooks(Protocol):
    """The hooks of every process (:class:`bot.db.leases.LeaseStore`), kept by token hash."""

    async def add_hook(self, token: str, owner: str) -> None:
        """Remember a hook ``owner`` issued."""
        ...

    async def fire_hook(self, token: str) -> Literal["fired", "used", "unknown"]:
        """Record a call of ``token`` for its issuer."""
        ...


class HookRegistry:
    """Issues, accepts (once) and retires hook tokens.

    With ``shared`` (the store) and this process's ``owner`` id, hooks are
    also recorded in the database, so that any process can take their call.
    """

    def __init__(
        self,
        public_base_url: str,
        *,
        shared: SharedHooks | None = None,
        owner: str = "",
    ) -> None:
        self.base = public_base_url.rstrip("/") + HOOK_PATH
        self.shared = shared
        self.owner = owner
        self._active: dict[str, Hook] = {}
        self._hashes: dict[str, str] = {}  # token hash -> token, of the active hooks
        self._retired: OrderedDict[str, None] = OrderedDict()
        self._recording: set[asyncio.Task[None]] = set()
        self.accepted = 0  # valid calls (for metrics and the bench)
        self.refused = 0  # unknown or reused tokens
        self.relayed = 0  # calls taken by another process and woken here

    @property
    def active(self) -> int:
        """How many hooks wait for their call."""
        return len(self._active)

    def issue(self) -> Hook:
        """A fresh hook for one job."""
        token = secrets.token_urlsafe(32)
        hook = Hook(token, self.base + token)
        self._active[token] = hook
        if self.shared is not None:
            self._hashes[hook_hash(token)] = token
            # In the background: the provider calls long after this insert (it renders
            # first); a call that still came first finds no hook and the job polls.
            task = asyncio.create_task(self._record(token), name="hook-record")
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)
        return hook

    async def flush(self) -> None:
        """Wait until the hooks issued so far are recorded in the database."""
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def _record(self, token: str) -> None:
        assert self.shared is not None
        try:
            await self.shared.add_hook(token, self.owner)
        except Exception as exc:  # only a call reaching another process is lost
            log.warning("push hook not recorded in the database: %s", type(exc).__name__)

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

    async def call(self, token: str) -> int:
        """A call for ``token`` reached this process: the HTTP status to answer.

        A hook of this process wakes its poller (and is marked used in the
        database, so a second call is refused everywhere); another process's
        hook is recorded for its issuer to pick up.
        """
        status = self.accept(token)
        if self.shared is None or status == 410:
            return status
        try:
            answer = await self.shared.fire_hook(token)
        except Exception as exc:  # the job still ends by polling
            log.warning("push hook call not recorded: %s", type(exc).__name__)
            return status if status == 204 else 503
        if status == 204:
            return 204
        if answer == "fired":
            self.refused -= 1  # it was not refused after all: its issuer takes it
            return 204
        return 410 if answer == "used" else 404

    def wake(self, hashes: set[str]) -> None:
        """Wake the pollers of this process's hooks whose call another process took."""
        for digest in hashes:
            token = self._hashes.get(digest)
            if token is not None and self.accept(token) == 204:
                self.relayed += 1

    def _retire(self, token: str) -> None:
        if self._hashes:
            self._hashes.pop(hook_hash(token), None)
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
        status = await self.registry.call(request.match_info["token"])
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
