"""The Discord checks: is the token good, and how is the application set up.

Two read-only calls with the bot token, the ones discord.py itself makes when it
logs in: ``GET /users/@me`` and ``GET /oauth2/applications/@me``
(https://discord.com/developers/docs/resources/application#get-current-application).
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import discord

from bot.onboarding.report import Report
from bot.onboarding.validate import token_problem

DISCORD_API = "https://discord.com/api/v10"
DISCORD_TIMEOUT = 15.0  # seconds for each call to Discord
TOKEN = "Discord token"
APPLICATION = "application"


def user_agent() -> str:
    """The ``User-Agent`` discord.py sends (Discord asks bots to identify themselves so)."""
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return (
        f"DiscordBot (https://github.com/Rapptz/discord.py {discord.__version__}) "
        f"Python/{python} aiohttp/{aiohttp.__version__}"
    )


async def _get(
    session: aiohttp.ClientSession, url: str, token: str
) -> tuple[int, dict[str, Any] | None]:
    headers = {"Authorization": f"Bot {token}", "User-Agent": user_agent()}
    timeout = aiohttp.ClientTimeout(total=DISCORD_TIMEOUT)
    async with session.get(url, headers=headers, timeout=timeout) as resp:
        if resp.status != 200:
            return resp.status, None
        body = await resp.json(content_type=None)
        return resp.status, body if isinstance(body, dict) else None


async def _call(
    session: aiohttp.ClientSession, base: str, path: str, token: str, subject: str, report: Report
) -> dict[str, Any] | None:
    """The JSON of a 200 answer; any other outcome is recorded as a failure and gives None."""
    try:
        status, body = await _get(session, base + path, token)
    except TimeoutError:
        report.fail(subject, f"Discord ({base}) did not answer within {DISCORD_TIMEOUT:g} s")
        return None
    except aiohttp.ClientError as exc:
        report.fail(subject, f"cannot reach Discord at {base}: {type(exc).__name__}")
        return None
    if status == 401:
        hint = token_problem(token)
        why = f" ({hint})" if hint else ""
        report.fail(
            subject,
            f"Discord rejected DISCORD_TOKEN{why}: copy a new token from the Developer "
            "Portal (your application, Bot, Reset Token) into DISCORD_TOKEN",
        )
        return None
    if status != 200 or body is None:
        report.fail(subject, f"Discord answered HTTP {status} to GET {path}; try again later")
        return None
    return body


async def check_discord(
    session: aiohttp.ClientSession,
    token: str,
    *,
    api_base: str | None,
    allowed_guild_ids: tuple[int, ...],
) -> Report:
    """Check the token, then read the application: its id (for the invite link) and settings."""
    report = Report()
    base = (api_base or DISCORD_API).rstrip("/")
    me = await _call(session, base, "/users/@me", token, TOKEN, report)
    if me is None:
        return report
    report.ok(TOKEN, f"accepted: the bot is {me.get('username', '?')} (id {me.get('id', '?')})")
    app = await _call(session, base, "/oauth2/applications/@me", token, APPLICATION, report)
    if app is None:
        return report
    report.application_id = str(app.get("id", "")) or None
    report.ok(APPLICATION, f"{app.get('name', '?')} (id {report.application_id})")
    if app.get("bot_public") and not allowed_guild_ids:
        report.warn(
            APPLICATION,
            "Public Bot is on and ALLOWED_GUILD_IDS is empty: anyone who has the invite link "
            "can add the bot to their server and spend your credits. Turn Public Bot off "
            "(Developer Portal, Bot) or list your servers in ALLOWED_GUILD_IDS",
        )
    if app.get("bot_require_code_grant"):
        report.fail(
            APPLICATION,
            "Requires OAuth2 Code Grant is on, so the invite link cannot add the bot: "
            "turn it off (Developer Portal, Bot)",
        )
    return report
