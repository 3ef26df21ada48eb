"""``python -m bot``: read settings, open the session and database, run the bot.

This module owns the lifetime of every resource: one aiohttp session, the
database, the bot, each in ``async with``. SIGTERM (``docker stop``) and SIGINT
close the bot cleanly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys

import aiohttp
import discord
import yarl
from dotenv import load_dotenv

from bot.app import SoraBot
from bot.config import ConfigError, Settings
from bot.db import Store
from bot.ops.logs import setup_logging
from bot.providers.factory import make_providers

log = logging.getLogger("bot")


def point_discord_at(settings: Settings) -> None:
    """Use another Discord API/gateway (a local fake in tests) when configured."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def client_session(settings: Settings) -> aiohttp.ClientSession:
    """The process's one HTTP session, with a connection for every job that may run at once.

    aiohttp allows 100 connections by default: a streamed (``chat``) job holds
    one for its whole life, so a bigger ``JOBS_MAX_CONCURRENT`` would leave the
    rest of the jobs waiting for a connection.
    """
    limit = max(100, settings.max_concurrent_jobs + 50)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))


async def run(settings: Settings) -> None:
    """Run the bot until it is closed by a signal or a fatal error."""
    async with (
        client_session(settings) as session,
        Store.open(settings.database_location, pool_size=settings.database_pool_size) as store,
    ):
        provider = make_providers(session, settings.all_providers)
        async with SoraBot(
            settings=settings, session=session, store=store, provider=provider
        ) as bot:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, functools.partial(_stop, bot, sig))
            await bot.start(settings.discord_token)


def _stop(bot: SoraBot, sig: signal.Signals) -> None:
    log.info("received %s: shutting down", sig.name)
    asyncio.get_running_loop().create_task(bot.close())


def main() -> int:
    """Entry point; returns the exit status."""
    load_dotenv(override=False)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        settings.log_level,
        settings.discord_token,
        settings.provider.api_key,
        json_format=settings.log_format == "json",
    )
    point_discord_at(settings)
    try:
        asyncio.run(run(settings))
    except ConfigError as exc:  # found at start, e.g. no model can be offered
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN; check the token in the Developer Portal")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
