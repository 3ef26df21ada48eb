"""Running the real, unmodified discord.py client against a ``FakeDiscord``.

``patch_discord(fake)`` points discord.py's REST base and gateway at the fake
for the duration of a ``with`` block; ``running_bot(bot, fake)`` logs a bot in,
connects it, waits for ``on_ready`` and closes it again. Build the bot with
``guild_ready_timeout=0.1``, or ``on_ready`` waits the default 2 s after the
last GUILD_CREATE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import discord
import discord.gateway
import discord.http
import yarl

from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def patch_discord(fake: FakeDiscord) -> Iterator[None]:
    """Set ``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to the fake, then restore."""
    route_cls = discord.http.Route
    ws_cls = discord.gateway.DiscordWebSocket
    old_base, old_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
    route_cls.BASE = fake.api_base
    ws_cls.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        route_cls.BASE = old_base
        ws_cls.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_bot(
    bot: ClientT, fake: FakeDiscord, *, timeout: float = 10.0
) -> AsyncIterator[ClientT]:
    """Log ``bot`` in (which runs ``setup_hook``), connect it and wait until it is ready.

    Leaves nothing behind: the bot is closed (HTTP session, websocket,
    heartbeat thread) and its connect task awaited, so no unclosed-session
    warnings reach ``filterwarnings = error``.
    """
    with patch_discord(fake):
        connect: asyncio.Task[None] | None = None
        try:
            await bot.login(fake.token)
            connect = asyncio.create_task(bot.connect(reconnect=True), name="fake-discord-connect")
            ready = asyncio.create_task(bot.wait_until_ready(), name="fake-discord-ready")
            done, _ = await asyncio.wait(
                {connect, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                await asyncio.gather(ready, return_exceptions=True)
                if connect in done:
                    connect.result()  # re-raise why the connection ended
                raise TimeoutError(f"bot not ready within {timeout}s")
            yield bot
        finally:
            await bot.close()
            if connect is not None:
                with contextlib.suppress(asyncio.CancelledError, discord.ConnectionClosed):
                    await connect
