"""`sora-bot stats --chart`: a real subprocess drawing the spend chart from a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.db import Store
from bot.ops.chart import HEIGHT_PX, WIDTH_PX
from tests.support.cli import Result, sora_bot

TOKEN = "discord-token-stats-cli-31337"
KEY = "sk-stats-cli-key-271828"
GUILD = 10


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    """A bot database with videos today and three days ago: completed, failed, cancelled."""
    path = tmp_path / "data" / "bot.sqlite3"
    now = datetime.now(UTC)
    async with Store.open(path) as store:
        for n, (days_ago, end) in enumerate(
            [(0, "completed"), (0, "failed"), (3, "completed"), (3, "cancelled")]
        ):
            at = now - timedelta(days=days_ago)
            job = await store.reserve(
                user_id=100 + n,
                guild_id=GUILD,
                channel_id=20,
                prompt="waves roll in",
                options={"model": "sora-2"},
                image_url=None,
                protocol="videos",
                cost=2,
                daily_limit=10,
                max_running=10,
                now=at,
                price_micros=1_000_000,
            )
            await store.mark_submitting(job.id, now=at)
            await store.settle(job.id, end, now=at)  # type: ignore[arg-type]
    return path


async def stats(*args: str, cwd: Path, database: Path) -> Result:
    """Run ``sora-bot stats`` with the bot's settings in the environment (no .env)."""
    settings = {
        "DISCORD_TOKEN": TOKEN,
        "PROVIDER_PROTOCOL": "videos",
        "PROVIDER_BASE_URL": "http://127.0.0.1:9",
        "PROVIDER_API_KEY": KEY,
        "DATABASE_PATH": str(database),
        "PRICE_CURRENCY": "EUR",
        "BUDGET_SERVER_DAILY_MONEY": "5",
    }
    drop = ("PROVIDER_", "DISCORD_", "DATABASE_", "BUDGET_", "PRICE_")
    result = await sora_bot("stats", *args, cwd=cwd, env=settings, timeout=90, drop=drop)
    for secret in (TOKEN, KEY):
        assert secret not in result.stdout + result.stderr
    return result


def assert_chart(path: Path) -> None:
    """A whole PNG of the chart's size, and nothing half-written beside it."""
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH_PX, HEIGHT_PX)
    assert not [name for name in names(path.parent) if name.endswith(".part")]


def names(directory: Path) -> list[str]:
    """What a directory holds."""
    return sorted(p.name for p in directory.iterdir())


async def test_writes_the_chart_of_every_server(tmp_path: Path, database: Path) -> None:
    out = tmp_path / "spend.png"

    result = await stats("--chart", str(out), cwd=tmp_path, database=database)

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert_chart(out)


async def test_writes_one_servers_chart_over_a_week_replacing_the_old_file(
    tmp_path: Path, database: Path
) -> None:
    out = tmp_path / "week.png"
    out.write_bytes(b"an older chart")

    result = await stats(
        "--chart", "week.png", "--days", "7", "--guild", str(GUILD), cwd=tmp_path, database=database
    )

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "week.png"
    assert_chart(out)


async def test_unwritable_path_is_a_clear_error(tmp_path: Path, database: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")

    result = await stats("--chart", str(blocker / "spend.png"), cwd=tmp_path, database=database)

    assert result.code == 1
    assert result.stdout == ""
    assert result.last_err == (
        f"error: cannot write the chart to {str(blocker / 'spend.png')!r}: "
        f"{str(blocker)!r} is not a directory"
    )
    assert "Traceback" not in result.stderr


async def test_a_name_the_filesystem_refuses_is_a_clear_error(
    tmp_path: Path, database: Path
) -> None:
    # Refused by the kernel (ENAMETOOLONG) for every user, root included.
    name = "s" * 300 + ".png"

    result = await stats("--chart", name, cwd=tmp_path, database=database)

    assert result.code == 1
    assert result.last_err == f"error: cannot write the chart to {name!r}: File name too long"
    assert names(tmp_path) == ["data"]


async def test_missing_database_is_named_and_not_created(tmp_path: Path, database: Path) -> None:
    missing = tmp_path / "elsewhere" / "bot.sqlite3"

    result = await stats("--chart", "spend.png", cwd=tmp_path, database=missing)

    assert result.code == 1
    assert result.last_err == f"error: no database at {str(missing)!r}; check DATABASE_PATH"
    assert not missing.parent.exists()
    assert not (tmp_path / "spend.png").exists()


async def test_days_out_of_range_are_refused(tmp_path: Path, database: Path) -> None:
    result = await stats("--chart", "spend.png", "--days", "0", cwd=tmp_path, database=database)

    assert result.code == 2
    assert "must be between 1 and 366 (got 0)" in result.last_err
    assert not (tmp_path / "spend.png").exists()
