"""``sora-bot check``: read the bot's settings and check each part, one line per check.

The settings come from the same place as the bot's (``.env`` in the working
directory, real environment variables winning). A setting the bot would refuse
is reported, and every check that can still run does, so one run shows
everything there is to fix. Nothing secret is ever printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import aiohttp
from dotenv import load_dotenv

from bot.config import ConfigError, ProviderSettings, Settings, providers_from_env
from bot.db import Store
from bot.onboarding.discord_checks import check_discord
from bot.onboarding.invite import invite_url
from bot.onboarding.provider_checks import check_provider
from bot.onboarding.report import Report, marks_for, render

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "data/sora-bot.sqlite3"


def _allowed_guild_ids(settings: Settings | None, env: Mapping[str, str]) -> tuple[int, ...]:
    """``ALLOWED_GUILD_IDS``: from the settings, or read leniently when they did not load."""
    if settings is not None:
        return settings.allowed_guild_ids
    raw = env.get("ALLOWED_GUILD_IDS", "")
    return tuple(int(p) for p in (s.strip() for s in raw.split(",")) if p.isdigit())


def _providers(
    settings: Settings | None, env: Mapping[str, str], report: Report
) -> tuple[ProviderSettings, ...]:
    """Every configured provider (each of ``PROVIDERS``, or the one ``PROVIDER_*``)."""
    if settings is not None:
        return settings.all_providers
    try:
        return providers_from_env(env)
    except ConfigError as exc:
        report.fail("provider", str(exc))
        return ()


async def check_database(path: str) -> Report:
    """Open the database as the bot does (creating and migrating it when needed)."""
    report = Report()
    try:
        async with Store.open(path):
            pass
    except Exception as exc:  # any failure is a line for the operator, never a traceback
        log.debug("database check failed", exc_info=True)
        report.fail(
            "database",
            f"cannot open {path} ({type(exc).__name__}: {exc}); check DATABASE_PATH and that "
            "its folder is writable",
        )
        return report
    report.ok("database", f"{path} opened and migrated")
    return report


async def run_checks(env: Mapping[str, str]) -> Report:
    """Every check, in order: settings, Discord token and application, database, providers."""
    report = Report()
    settings: Settings | None = None
    settings_error: str | None = None
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        settings_error = str(exc)
    else:
        report.ok("settings", "every setting is valid")
    later = Report()
    token = env.get("DISCORD_TOKEN", "").strip()
    async with aiohttp.ClientSession() as session:
        if not token:
            later.fail("Discord token", "DISCORD_TOKEN is not set; see .env.example")
        else:
            api_base = settings.discord_api_base_url if settings else None
            api_base = api_base or env.get("DISCORD_API_BASE_URL", "").strip() or None
            found = await check_discord(
                session,
                token,
                api_base=api_base,
                allowed_guild_ids=_allowed_guild_ids(settings, env),
            )
            later.lines += found.lines
            later.application_id = found.application_id
        path = settings.database_path if settings else env.get("DATABASE_PATH", "").strip()
        later.lines += (await check_database(path or DEFAULT_DATABASE)).lines
        for provider in _providers(settings, env, later):
            later.lines += (await check_provider(session, provider)).lines
    if settings_error and not any(settings_error in line.text for line in later.failures):
        report.fail("settings", settings_error)
    report.lines += later.lines
    report.application_id = later.application_id
    return report


def secrets_of(env: Mapping[str, str]) -> tuple[str | None, ...]:
    """Every value that must never be printed: the bot token and each API key."""
    return tuple(v for k, v in env.items() if k == "DISCORD_TOKEN" or k.endswith("API_KEY"))


def print_report(report: Report, env: Mapping[str, str], out: TextIO) -> None:
    """The lines, the invite link when the application is known, and a summary."""
    marks = marks_for(out)
    secrets = secrets_of(env)
    for line in report.lines:
        print(render(line, marks, secrets), file=out)
    if report.application_id:
        print(f"\nInvite the bot to your server: {invite_url(report.application_id)}", file=out)
    failed = len(report.failures)
    if failed:
        what = "1 check failed" if failed == 1 else f"{failed} checks failed"
        print(f"\n{what}: fix what the lines marked {marks['fail']} say, then run "
              "sora-bot check again.", file=out)  # fmt: skip
    else:
        print("\nAll checks passed.", file=out)


def main(out: TextIO = sys.stdout) -> int:
    """``sora-bot check``: 0 when every check passed, 1 otherwise."""
    env_file = Path.cwd() / ".env"
    load_dotenv(env_file, override=False)  # real environment variables win, as for the bot
    source = str(env_file) if env_file.is_file() else "no .env here"
    print(f"Checking the settings from the environment ({source})", file=out)
    env = dict(os.environ)
    try:
        report = asyncio.run(run_checks(env))
    except KeyboardInterrupt:
        print("interrupted", file=out)
        return 130
    print_report(report, env, out)
    return 0 if report.passed else 1
