"""A picture of spend: the last days' videos, credits and money as one PNG.

Three panels over the same UTC days: videos per day by outcome (stacked bars),
credits spent per day, and estimated money per day against the daily money
cap (a dashed line, when one is set). Spend is the store's (see
:mod:`bot.db.series`): every job sent to the provider counts, however it ended.

Drawn with matplotlib's Agg renderer through :class:`~matplotlib.figure.Figure`
and ``FigureCanvasAgg`` directly, never ``pyplot`` (which keeps global figures
and is not thread-safe), and with every colour set on the artists themselves,
so no global ``rcParams`` change. matplotlib is imported inside the renderer:
it takes a while to import, and only this picture needs it. Nothing here
knows Discord; the caller attaches the bytes.

Readable in Discord's dark (#313338) and light (#FFFFFF) themes: the picture
is a solid dark card, so text and bars are read against the card, never the
theme. Contrast ratios (WCAG 2.x) against the card #1E1F22, then against the
dark and light themes' backgrounds for comparison:

- card itself: 1.29:1 on #313338 (it blends in) and 16.4:1 on #FFFFFF (a card);
  its #4E5058 border is 1.57:1 and 8.04:1;
- text #F2F3F5: 14.8:1 (11.4:1 on #313338); secondary text #B5BAC1: 8.4:1;
- bars and lines, from the Okabe-Ito colour-blind-safe palette (plus grey),
  each at least 3:1 on the card (WCAG's minimum for graphics): completed
  #009E73 4.8:1, failed #D55E00 4.3:1, cancelled #CC79A7 5.4:1, in progress
  #9AA0A6 6.2:1, credits #56B4E9 7.1:1, money #E69F00 7.3:1, cap line
  #F0E442 12.5:1; grid lines #3F4147 1.6:1 (meant to stay in the background).

Stacked segments are also separated by a thin line of the card's colour, so
they stay apart even for someone who sees two of the colours alike.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from bot.db.series import DaySpend
from bot.rules.costs import MICROS, format_money

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from bot.config import Settings
    from bot.db.store import Store

BACKGROUND: Final = "#1E1F22"
BORDER: Final = "#4E5058"
TEXT: Final = "#F2F3F5"
SECONDARY: Final = "#B5BAC1"
GRID: Final = "#3F4147"
# (label, field of DaySpend, colour), bottom of the stack first.
OUTCOMES: Final = (
    ("completed", "completed", "#009E73"),
    ("failed", "failed", "#D55E00"),
    ("cancelled", "cancelled", "#CC79A7"),
    ("in progress", "active", "#9AA0A6"),
)
CREDITS_COLOUR: Final = "#56B4E9"
MONEY_COLOUR: Final = "#E69F00"
CAP_COLOUR: Final = "#F0E442"

WIDTH_PX: Final = 1200
HEIGHT_PX: Final = 900
DPI: Final = 100

# matplotlib's shared caches (fonts, text layout) are not documented as safe
# for two renders at once; charts are rare, so they simply take turns.
_RENDER_LOCK = threading.Lock()


async def stats_chart(
    store: Store,
    *,
    guild_id: int | None,
    days: int = 30,
    credit_cap: int | None = None,
    money_cap_micros: int | None = None,
    currency: str = "USD",
    scope: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """PNG bytes of the last ``days`` UTC days of one server (``None``: every server).

    ``credit_cap`` and ``money_cap_micros`` draw the daily caps as lines;
    ``scope`` names what is shown in the title (default: the server id or
    "every server"). The rendering runs in a worker thread, so the event loop
    keeps serving members meanwhile.
    """
    series = await store.daily_series(guild_id, days=days, now=now)
    if scope is None:
        scope = "every server" if guild_id is None else f"server {guild_id}"
    return await asyncio.to_thread(
        render_chart,
        series,
        currency=currency,
        credit_cap=credit_cap,
        money_cap_micros=money_cap_micros,
        scope=scope,
    )


async def settings_chart(
    store: Store,
    settings: Settings,
    *,
    guild_id: int | None,
    days: int = 30,
    scope: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """:func:`stats_chart` with the caps and currency in force.

    For a server: its own budget, else ``BUDGET_SERVER_DAILY_*``. For every
    server: the bot's ``BUDGET_DAILY_*`` (the cap their sum is held to).
    """
    from bot.rules.policy import server_budget

    if guild_id is None:
        credits, micros = settings.budget_daily_credits, settings.budget_daily_micros
    else:
        credits, micros = server_budget(settings.limits, await store.guild_settings(guild_id))
    return await stats_chart(
        store,
        guild_id=guild_id,
        days=days,
        credit_cap=credits,
        money_cap_micros=micros,
        currency=settings.currency,
        scope=scope,
        now=now,
    )


def render_chart(
    series: Sequence[DaySpend],
    *,
    currency: str = "USD",
    credit_cap: int | None = None,
    money_cap_micros: int | None = None,
    scope: str = "every server",
) -> bytes:
    """Draw ``series`` (consecutive days, oldest first) as a PNG; pure, no I/O."""
    if not series:
        raise ValueError("the series must have at least one day")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    with _RENDER_LOCK:
        fig = Figure(
            figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI),
            dpi=DPI,
            facecolor=BACKGROUND,
            edgecolor=BORDER,
            linewidth=2,
        )
        # Padding (inches) keeps the outermost labels clear of the card's border.
        fig.set_layout_engine(ConstrainedLayoutEngine(w_pad=0.2, h_pad=0.1))
        FigureCanvasAgg(fig)
        videos_ax, credits_ax, money_ax = fig.subplots(3, 1, sharex=True, height_ratios=(1.3, 1, 1))
        xs = list(range(len(series)))
        _videos(videos_ax, xs, series)
        _bars(credits_ax, xs, [d.credits for d in series], CREDITS_COLOUR, integer=True)
        _cap(credits_ax, credit_cap, f"daily cap {credit_cap} credits")
        _title(credits_ax, "Credits spent per day")
        money = [d.micros / MICROS for d in series]
        _bars(money_ax, xs, money, MONEY_COLOUR, integer=False)
        if money_cap_micros is not None:
            label = f"daily cap {format_money(money_cap_micros, currency)}"
            _cap(money_ax, money_cap_micros / MICROS, label)
        _title(money_ax, f"Estimated cost per day ({currency})")
        _day_ticks(money_ax, series)
        total_videos = sum(d.videos for d in series)
        total_credits = sum(d.credits for d in series)
        total_micros = sum(d.micros for d in series)
        first, last = series[0].day, series[-1].day
        fig.suptitle(
            f"Last {len(series)} days, {first:%d %b} to {last:%d %b %Y} (UTC), {scope}\n"
            f"{total_videos} videos · {total_credits} credits · "
            f"{format_money(total_micros, currency)}",
            color=TEXT,
            fontsize=14,
        )
        out = io.BytesIO()
        fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _videos(ax: Axes, xs: list[int], series: Sequence[DaySpend]) -> None:
    """Stacked bars of the day's videos by outcome, with a legend above the panel."""
    bottom = [0] * len(series)
    for label, name, colour in OUTCOMES:
        heights = [getattr(d, name) for d in series]
        if name == "active" and not any(heights):
            continue  # only worth a legend entry while something is under way
        ax.bar(
            xs,
            heights,
            bottom=bottom,
            color=colour,
            edgecolor=BACKGROUND,
            linewidth=0.6,
            width=0.8,
            label=label,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _style(ax, max(bottom), integer=True)
    _title(ax, "Videos per day")
    legend = ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(OUTCOMES),
        frameon=False,
        fontsize=11,
        handlelength=1.2,
    )
    for text in legend.get_texts():
        text.set_color(TEXT)
    if not any(bottom):
        ax.text(
            0.5,
            0.5,
            "no videos in these days",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=SECONDARY,
            fontsize=13,
        )


def _bars(ax: Axes, xs: list[int], heights: list[float], colour: str, *, integer: bool) -> None:
    ax.bar(xs, heights, color=colour, width=0.8)
    _style(ax, max(heights), integer=integer)


def _cap(ax: Axes, cap: float | None, label: str) -> None:
    """A dashed line at ``cap``, labelled at its right end, with room above it."""
    if cap is None:
        return
    ax.axhline(cap, color=CAP_COLOUR, linestyle=(0, (6, 3)), linewidth=2)
    ax.annotate(
        label,
        xy=(1.0, cap),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 4),
        textcoords="offset points",
        ha="right",
        va="bottom",
        color=CAP_COLOUR,
        fontsize=11,
    )
    low, high = ax.get_ylim()
    ax.set_ylim(low, max(high, cap * 1.2))


def _style(ax: Axes, highest: float, *, integer: bool) -> None:
    """Card colours, a light grid behind the bars, and a y range that fits (never 0..0)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_facecolor(BACKGROUND)
    for side, spine in ax.spines.items():
        spine.set_visible(side in ("left", "bottom"))
        spine.set_color(BORDER)
    ax.tick_params(colors=SECONDARY, labelsize=11)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    top = highest * 1.15 if highest > 0 else 1
    ax.set_ylim(0, math.ceil(top) if integer else top)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=integer, min_n_ticks=2))
    if not integer:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:.2f}"))


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, loc="left", color=TEXT, fontsize=12)


def _day_ticks(ax: Axes, series: Sequence[DaySpend]) -> None:
    """About ten date labels, counted back from the last day so today is always labelled."""
    step = max(1, math.ceil(len(series) / 10))
    ticks = list(range(len(series) - 1, -1, -step))[::-1]
    ax.set_xticks(ticks, [f"{series[i].day:%d %b}" for i in ticks])
    ax.set_xlim(-0.6, len(series) - 0.4)
