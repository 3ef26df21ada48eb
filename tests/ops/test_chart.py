"""The spend chart: the per-day series read exactly, and a real PNG drawn from it."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from bot.db import Store
from bot.db.series import DaySpend
from bot.ops import chart
from bot.ops.chart import render_chart, stats_chart

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
GUILD, OTHER_GUILD = 10, 11
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real, migrated SQLite store in the test's directory."""
    async with Store.open(tmp_path / "bot.sqlite3") as opened:
        yield opened


async def job(
    store: Store,
    at: datetime,
    end: str | None,
    *,
    sent: bool = True,
    cost: int = 1,
    micros: int = 100_000,
    guild_id: int | None = GUILD,
    user_id: int = 1,
    ended_at: datetime | None = None,
) -> None:
    """One job through the store's own path: reserved at ``at``, maybe sent, maybe ended."""
    reserved = await store.reserve(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=20,
        prompt="a cat surfing",
        options={"model": "sora-2", "duration": 10},
        image_url=None,
        protocol="videos",
        cost=cost,
        daily_limit=1000,
        max_running=1000,
        now=at,
        price_micros=micros,
    )
    if sent:
        await store.mark_submitting(reserved.id, now=at)
    if end is not None:
        assert end in ("completed", "failed", "cancelled")
        await store.settle(reserved.id, end, now=ended_at or at + timedelta(minutes=3))  # type: ignore[arg-type]


async def seed(store: Store) -> None:
    """Jobs over 2025-03-05..10 (UTC), across outcomes, servers and a midnight."""
    # Before the window of 5 days ending on the 10th: never counted.
    await job(store, datetime(2025, 3, 5, 23, 59, 59, tzinfo=UTC), "completed", cost=50)
    # The 6th: one completed; one failed before it was sent (costs the operator nothing).
    await job(store, datetime(2025, 3, 6, 0, 0, tzinfo=UTC), "completed", cost=2, micros=1_500_000)
    await job(store, datetime(2025, 3, 6, 9, 0, tzinfo=UTC), "failed", sent=False, micros=500_000)
    # The 7th: nothing at all.
    # The 8th: reserved a second before midnight and cancelled after it, still the 8th's;
    # 01:30 at UTC+2 on the 9th is 23:30 UTC on the 8th; failed after it was sent (billed).
    await job(
        store,
        datetime(2025, 3, 8, 23, 59, 59, tzinfo=UTC),
        "cancelled",
        cost=3,
        micros=2_000_000,
        ended_at=datetime(2025, 3, 9, 0, 0, 1, tzinfo=UTC),
    )
    plus_two = timezone(timedelta(hours=2))
    await job(store, datetime(2025, 3, 9, 1, 30, tzinfo=plus_two), "failed", user_id=2)
    # The 9th from its first second, in another server.
    await job(
        store, datetime(2025, 3, 9, 0, 0, tzinfo=UTC), "completed", guild_id=OTHER_GUILD, cost=4
    )
    # The 10th: one still queued (its spend counts: it may yet be sent), in a direct message.
    await job(store, datetime(2025, 3, 10, 11, 0, tzinfo=UTC), None, sent=False, guild_id=None)


async def test_daily_series_counts_every_day_exactly(store: Store) -> None:
    await seed(store)

    series = await store.daily_series(None, days=5, now=NOW)

    assert series == (
        DaySpend(date(2025, 3, 6), completed=1, failed=1, credits=2, micros=1_500_000),
        DaySpend(date(2025, 3, 7)),
        DaySpend(date(2025, 3, 8), failed=1, cancelled=1, credits=4, micros=2_100_000),
        DaySpend(date(2025, 3, 9), completed=1, credits=4, micros=100_000),
        DaySpend(date(2025, 3, 10), active=1, credits=1, micros=100_000),
    )
    assert [d.videos for d in series] == [2, 0, 2, 1, 1]


async def test_daily_series_of_one_server(store: Store) -> None:
    await seed(store)

    mine = await store.daily_series(GUILD, days=5, now=NOW)
    other = await store.daily_series(OTHER_GUILD, days=5, now=NOW)

    assert [d.videos for d in mine] == [2, 0, 2, 0, 0]
    assert [d.credits for d in mine] == [2, 0, 4, 0, 0]
    assert [d.credits for d in other] == [0, 0, 0, 4, 0]
    assert [d.day for d in other] == [date(2025, 3, 6) + timedelta(days=n) for n in range(5)]


async def test_daily_series_ends_on_the_utc_day_of_now(store: Store) -> None:
    await seed(store)
    # 00:30 on the 11th at UTC+3 is still the 10th in UTC.
    late = datetime(2025, 3, 11, 0, 30, tzinfo=timezone(timedelta(hours=3)))

    series = await store.daily_series(None, days=1, now=late)

    assert series == (DaySpend(date(2025, 3, 10), active=1, credits=1, micros=100_000),)


@pytest.mark.parametrize("days", [0, -1, 367])
async def test_daily_series_refuses_silly_lengths(store: Store, days: int) -> None:
    with pytest.raises(ValueError, match="days must be between 1 and 366"):
        await store.daily_series(None, days=days, now=NOW)


def pixels(png: bytes) -> Image.Image:
    """The PNG as RGB pixels, after checking it really is a PNG."""
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#RRGGBB`` as a pixel value."""
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def count_colour(image: Image.Image, colour: str) -> int:
    """How many pixels are exactly ``colour``."""
    colours = image.getcolors(maxcolors=1 << 24)
    assert colours is not None
    return dict((c, n) for n, c in colours).get(hex_rgb(colour), 0)


async def test_chart_of_a_seeded_database_is_a_full_png(store: Store, tmp_path: Path) -> None:
    async with Store.open(tmp_path / "empty.sqlite3") as empty_store:
        empty = pixels(await stats_chart(empty_store, guild_id=None, now=NOW))
    await seed(store)

    seeded = pixels(await stats_chart(store, guild_id=None, now=NOW, currency="EUR"))

    assert seeded.size == empty.size == (chart.WIDTH_PX, chart.HEIGHT_PX)
    # Not blank: text, grid and bars in many shades, and well over the card's colour.
    colours = seeded.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100
    background = count_colour(seeded, chart.BACKGROUND)
    assert background < 0.95 * seeded.width * seeded.height
    # Every kind of bar shows in the seeded picture; only their legend swatches in the empty one.
    for _label, _field, colour in chart.OUTCOMES:
        assert count_colour(seeded, colour) > count_colour(empty, colour) + 500
    for colour in (chart.CREDITS_COLOUR, chart.MONEY_COLOUR):
        assert count_colour(empty, colour) == 0
        assert count_colour(seeded, colour) > 1000
    # The bar panels (below the title) differ in far more than a few labels.
    top = 60
    box = (0, top, seeded.width, seeded.height)
    diff = ImageChops.difference(seeded.crop(box), empty.crop(box)).convert("L")
    changed = diff.point(lambda v: 255 if v else 0).histogram()[255]
    assert changed > 0.05 * seeded.width * (seeded.height - top)


async def test_money_cap_is_drawn_only_when_set(store: Store) -> None:
    await seed(store)

    without = pixels(await stats_chart(store, guild_id=GUILD, now=NOW))
    with_cap = pixels(await stats_chart(store, guild_id=GUILD, now=NOW, money_cap_micros=3_000_000))

    assert count_colour(without, chart.CAP_COLOUR) == 0
    # A dashed line across the panel, two pixels thick: hundreds of pixels.
    assert count_colour(with_cap, chart.CAP_COLOUR) > 500


async def test_renders_at_once_all_succeed(store: Store) -> None:
    await seed(store)

    pngs = await asyncio.gather(
        *(stats_chart(store, guild_id=g, now=NOW) for g in (None, GUILD, OTHER_GUILD))
    )

    assert all(pixels(png).size == (chart.WIDTH_PX, chart.HEIGHT_PX) for png in pngs)
    assert len(set(pngs)) == 3  # three different scopes, three different pictures


def test_render_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        render_chart([])


def luminance(colour: str) -> float:
    """WCAG 2.x relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in hex_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio of two colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_colours_keep_the_contrast_the_module_promises() -> None:
    # Text needs 4.5:1 (WCAG AA), bars and lines 3:1 (non-text contrast), on the card.
    assert contrast(chart.TEXT, chart.BACKGROUND) >= 4.5
    assert contrast(chart.SECONDARY, chart.BACKGROUND) >= 4.5
    graphics = [c for _l, _f, c in chart.OUTCOMES]
    graphics += [chart.CREDITS_COLOUR, chart.MONEY_COLOUR, chart.CAP_COLOUR]
    for colour in graphics:
        assert contrast(colour, chart.BACKGROUND) >= 3, colour
    assert len(set(graphics)) == len(graphics)
    # The card stands out on Discord's light theme; on the dark one it may blend in.
    assert contrast(chart.BACKGROUND, "#FFFFFF") >= 10


def test_rendering_never_loads_pyplot_and_importing_never_loads_matplotlib() -> None:
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from bot.ops.chart import render_chart\n"
        "from bot.db.series import DaySpend\n"
        "assert 'matplotlib' not in sys.modules, 'imported at start-up'\n"
        "png = render_chart([DaySpend(date(2025, 3, 10), completed=2, credits=2)])\n"
        "assert png.startswith(b'\\x89PNG')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot loaded'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
