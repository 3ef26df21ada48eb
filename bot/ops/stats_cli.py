"""``sora-bot stats --chart out.png``: the spend chart of ``/video-admin stats``, from a terminal.

It reads the bot's own settings (``DATABASE_PATH``, ``PRICE_CURRENCY``, the
budget caps) and database, and draws the same picture as the admin command
(:func:`bot.ops.chart.settings_chart`). The database is only read; the file
is written whole or not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.db import Store, StoreError
from bot.db.series import MAX_SERIES_DAYS

log = logging.getLogger(__name__)


class StatsError(Exception):
    """A failure with a one-line reason for the operator."""


def add_stats_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stats`` on the ``sora-bot`` command's subparsers."""
    stats = sub.add_parser("stats", help="draw the spend chart of the last days as a PNG")
    stats.add_argument("--chart", required=True, help="the PNG file to write (replaced if any)")
    stats.add_argument(
        "--days",
        type=_days,
        default=30,
        help=f"how many UTC days up to today (1 to {MAX_SERIES_DAYS}; default 30)",
    )
    stats.add_argument("--guild", type=int, help="one server's id (default: every server)")


def _days(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {raw!r})") from None
    if not 1 <= value <= MAX_SERIES_DAYS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SERIES_DAYS} (got {value})")
    return value


def stats_command(args: argparse.Namespace) -> int:
    """Run ``sora-bot stats``: 0 with the chart's path on stdout, else a reason on stderr."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        path = write_chart(settings, Path(args.chart), args.days, args.guild)
    except StatsError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    print(path)
    return 0


def write_chart(settings: Settings, dest: Path, days: int, guild_id: int | None) -> Path:
    """Draw the chart and save it at ``dest``; StatsError says what went wrong.

    Where the chart goes is checked first, so nothing is read for a chart
    that could not be saved.
    """
    with _writing(dest):
        if dest.is_dir():
            raise StatsError(f"{str(dest)!r} is a directory; give a file name like stats.png")
        if not dest.parent.is_dir():
            raise StatsError(
                f"cannot write the chart to {str(dest)!r}: {str(dest.parent)!r} is not a directory"
            )
    database = Path(settings.database_path)
    png = asyncio.run(_draw(settings, database, days, guild_id))
    with _writing(dest):
        _save(dest, png)
    return dest


@contextlib.contextmanager
def _writing(dest: Path) -> Iterator[None]:
    """Turn an OSError about ``dest`` (a name too long, a full disk...) into a StatsError."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StatsError(f"cannot write the chart to {str(dest)!r}: {reason}") from None


async def _draw(settings: Settings, database: Path, days: int, guild_id: int | None) -> bytes:
    from bot.ops.chart import settings_chart

    scope = "every server" if guild_id is None else f"server {guild_id}"
    try:
        # Store.open would create an empty database: a wrong path would draw a blank chart.
        if not await asyncio.to_thread(database.is_file):
            raise StatsError(f"no database at {str(database)!r}; check DATABASE_PATH")
        async with Store.open(database) as store:
            return await settings_chart(store, settings, guild_id=guild_id, days=days, scope=scope)
    except (StoreError, OSError) as exc:
        raise StatsError(f"cannot read the database {str(database)!r}: {exc}") from None


def _save(dest: Path, data: bytes) -> None:
    """Write ``data`` beside ``dest`` and rename it into place: never a half-written PNG."""
    fd, part = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            # mkstemp makes the file owner-only; a chart is as readable as any file written.
            os.fchmod(out.fileno(), 0o644)
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def _fail(message: str, code: int = 1) -> int:
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr)
    return code
