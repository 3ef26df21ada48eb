"""``FakeDiscord``: a loopback Discord (REST, gateway, CDN) for end-to-end tests.

Start it with ``async with FakeDiscord() as fake:``, point discord.py at it
with :func:`~.harness.patch_discord` (or ``fake.api_base`` /
``fake.gateway_url`` for a subprocess), then drive the bot with
``await fake.slash(...)`` / ``await fake.click(...)`` and assert on what the
fake recorded. ``await fake.wait_for(predicate)`` re-checks ``predicate``
after every recorded request or gateway frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from . import errors, payloads, rest_app, rest_channels, rest_guilds, rest_webhooks
from .commands import CommandRegistry
from .driver import Driver
from .gateway import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES, Gateway
from .http import API_PREFIX, RecordedRequest, RouteDef, wrap
from .models import (
    DEFAULT_UPLOAD_LIMIT,
    FakeChannel,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    Snowflakes,
    StoredFile,
)
from .ratelimit import RateLimits
from .world import World

T = TypeVar("T")


class FakeDiscord(Driver, World):
    """The fake Discord: world state, recorded traffic and the aiohttp server.

    Options: ``token`` is the only bot token accepted (REST ``Authorization:
    Bot <token>`` and IDENTIFY); ``callback_deadline`` is Discord's 3 s to
    answer an interaction, counted from the dispatch (``None`` turns it off);
    ``attachment_size_limit`` is the default upload limit for interactions
    outside guilds (guilds use ``FakeGuild.upload_limit``);
    ``followup_replaces_loading`` makes the first followup after a defer
    replace the "thinking..." message, as Discord does.

    What tests read: ``requests`` (every REST exchange, in order),
    ``interactions`` (each with its callback, original response, edits and
    followups), ``messages`` / ``channel_messages()``, ``commands``,
    ``gateway`` (identifies, resumes, sessions; each session's ``shard`` and the
    events it was ``sent``) and ``cdn`` (stored files). Guilds' events go only to
    the sessions of their shard (see :mod:`.gateway`); ``recommended_shards`` is
    the shard count ``GET /gateway/bot`` recommends.
    What tests switch: ``rate_limits``, ``FakeChannel.bot_deny`` (via
    ``forbid_channel``), ``FakeGuild.upload_limit``, ``FakeUser.dms_open``,
    ``expire_token()`` and ``delete_message()``.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        callback_deadline: float | None = 3.0,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        followup_replaces_loading: bool = True,
    ) -> None:
        self.ids = Snowflakes()
        self.token = token
        self.callback_deadline = callback_deadline
        self.attachment_size_limit = attachment_size_limit
        self.followup_replaces_loading = followup_replaces_loading
        self.application_id = self.ids.next()
        self.application_flags = 0
        # Developer Portal -> Bot: "Public Bot" (on for a new application) and
        # "Requires OAuth2 Code Grant", as GET /oauth2/applications/@me reports them.
        self.bot_public = True
        self.bot_require_code_grant = False
        self.allowed_intents = (1 << 26) - 1  # every intent, privileged ones included
        self.recommended_shards = 1  # what GET /gateway/bot says (discord.py's automatic sharding)
        super().__init__()
        self.commands = CommandRegistry(self.application_id, self.ids)
        self.rate_limits = RateLimits()
        self.gateway = Gateway(self)
        self.requests: list[RecordedRequest] = []
        self.interactions: list[FakeInteraction] = []
        self.interaction_by_id: dict[int, FakeInteraction] = {}
        self.interaction_by_token: dict[str, FakeInteraction] = {}
        self.cdn: dict[int, StoredFile] = {}
        self.internal_errors: list[Exception] = []  # bugs in the fake itself
        # "METHOD /route/template" -> how many of the next such requests lose their
        # connection before an answer (a network cut: the client gets no HTTP status).
        self.cut_connections: dict[str, int] = {}
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        # Discord itself takes 25 MiB requests; the fake must read oversized
        # uploads whole to answer 413 / 40005 as Discord does.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        definitions: list[RouteDef] = [
            *rest_app.ROUTES,
            *rest_channels.ROUTES,
            *rest_webhooks.ROUTES,
            *rest_guilds.ROUTES,
        ]
        for definition in definitions:
            app.router.add_route(
                definition.method, API_PREFIX + definition.path, wrap(self, definition)
            )
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", wrap(self, _NOT_FOUND))
        app.router.add_get("/gateway", self.gateway.handle)
        cdn_path = "/{kind:(media/)?(ephemeral-)?attachments}/{scope}/{file_id:\\d+}/{filename}"
        app.router.add_get(cdn_path, self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Close websockets and stop the server; raise if a handler of the fake crashed."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.internal_errors:
            raise RuntimeError("fake discord crashed while serving") from self.internal_errors[0]

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be (``DISCORD_API_BASE_URL``)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be (``DISCORD_GATEWAY_URL``)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        """Environment for a bot subprocess (``python -m bot``) to use this fake."""
        return {
            "DISCORD_TOKEN": self.token,
            "DISCORD_API_BASE_URL": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DISCORD_GUILD_IDS": ",".join(str(g.id) for g in self.guilds),
        }

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        stored = self.cdn.get(int(request.match_info["file_id"]))
        if stored is None or stored.filename != request.match_info["filename"]:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(
            body=stored.data, content_type=stored.content_type or "application/octet-stream"
        )

    # -- recording and waiting ---------------------------------------------

    async def record(self, request: RecordedRequest) -> None:
        """Append a REST exchange and wake waiters."""
        self.requests.append(request)
        await self.changed()

    async def changed(self) -> None:
        """Wake every ``wait_for`` so it re-checks its predicate."""
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked after every request and gateway frame, never by polling.
        On timeout raises ``TimeoutError`` listing the last requests seen.
        """
        try:
            async with asyncio.timeout(timeout), self._cond:
                return await self._cond.wait_for(predicate)
        except TimeoutError:
            recent = "\n".join(
                f"  {r.method} {r.path} -> {r.status} {r.response!r:.200}"
                for r in self.requests[-10:]
            )
            raise TimeoutError(
                f"condition not met within {timeout}s; last requests:\n{recent}"
            ) from None

    async def wait_until_connected(self, timeout: float = 5.0) -> None:
        """Wait for a gateway session with a live connection (after IDENTIFY or RESUME)."""
        await self.wait_for(lambda: self.gateway.ready_sessions, timeout)

    def requests_to(self, method: str, route: str) -> list[RecordedRequest]:
        """Recorded requests whose route template starts with ``route``."""
        return [r for r in self.requests if r.method == method and r.route.startswith(route)]

    # -- messages -----------------------------------------------------------

    def new_message(
        self, channel: FakeChannel, author: FakeUser, *, interaction: FakeInteraction | None = None
    ) -> FakeMessage:
        """A message object not yet visible anywhere (see :meth:`publish`)."""
        msg = FakeMessage(
            id=self.ids.next(), channel_id=channel.id, guild_id=channel.guild_id, author=author
        )
        if interaction is not None:
            msg.interaction = interaction
            msg.webhook_id = self.application_id
        return msg

    async def publish(self, msg: FakeMessage, *, edited: bool = False) -> None:
        """Store a new message (or note an edit) and send the gateway event.

        Ephemeral messages stay out of the channel and out of the gateway.
        """
        if not edited:
            self.messages[msg.id] = msg
            if not msg.ephemeral:
                self.channels[msg.channel_id].messages.append(msg)
        if msg.ephemeral:
            return
        data = payloads.message(self, msg)
        guild = self.find_guild(msg.guild_id) if msg.guild_id else None
        if guild is not None:
            data["guild_id"] = str(guild.id)
            data["member"] = {
                k: v for k, v in payloads.member(guild, msg.author).items() if k != "user"
            }
        intent = INTENT_GUILD_MESSAGES if guild else INTENT_DIRECT_MESSAGES
        await self.gateway.dispatch(
            "MESSAGE_UPDATE" if edited else "MESSAGE_CREATE",
            data,
            guild_id=guild.id if guild else None,
            intent=intent,
        )

    def channel_messages(self, channel: FakeChannel | None = None) -> list[FakeMessage]:
        """Visible (public, not deleted) messages of a channel, oldest first."""
        return [m for m in (channel or self.channel).messages if not m.deleted]


async def _not_found(ctx: Any) -> Any:
    raise errors.not_found()


_NOT_FOUND = RouteDef("*", "/{tail}", _not_found, bot_auth=False)
