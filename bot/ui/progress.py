"""Pure rendering of job progress: bars, percents, elapsed time, status lines."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.i18n import DEFAULT_LOCALE, N_, t
from bot.ui.markdown import escape

BAR_WIDTH = 16
FULL, EMPTY = "█", "░"


def render_bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    """A fixed-width bar; an unknown percent shows an empty bar."""
    if percent is None:
        return EMPTY * width
    filled = math.floor(max(0.0, min(100.0, percent)) / 100 * width)
    return FULL * filled + EMPTY * (width - filled)


def format_percent(percent: float | None) -> str:
    """``"36%"``; ``"--%"`` when unknown."""
    if percent is None:
        return "--%"
    return f"{math.floor(max(0.0, min(100.0, percent))):d}%"


def format_elapsed(seconds: float, locale: str = DEFAULT_LOCALE) -> str:
    """``"45s"``, ``"3m 05s"``, ``"1h 02m"`` (units in ``locale``)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return t(locale, "{seconds}s", seconds=seconds)
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return t(locale, "{minutes}m {seconds}s", minutes=minutes, seconds=f"{secs:02d}")
    hours, minutes = divmod(minutes, 60)
    return t(locale, "{hours}h {minutes}m", hours=hours, minutes=f"{minutes:02d}")


@dataclass(frozen=True, slots=True)
class ProgressState:
    """What a progress display shows at one moment."""

    stage: str  # "waiting", "queued", "generating", "finishing"
    percent: float | None = None
    status: str | None = None  # the provider's own status text
    position: int | None = None  # position in the bot's own queue, 1-based
    elapsed: float = 0.0


STAGE_LABELS = {
    "waiting": N_("Waiting for a free slot"),
    "queued": N_("Queued at the video service"),
    "generating": N_("Generating"),
    "finishing": N_("Finishing up"),
}


def render_line(state: ProgressState, locale: str = DEFAULT_LOCALE) -> str:
    """One line: bar, percent, stage/status, queue position and elapsed time, in ``locale``."""
    english = STAGE_LABELS.get(state.stage)
    label = t(locale, english) if english else state.stage.capitalize()
    if state.stage == "waiting" and state.position is not None:
        label = t(
            locale, "{label} (position {position} in queue)", label=label, position=state.position
        )
    status = (state.status or "").strip()
    if status and status.lower() not in label.lower():
        # The provider's words: shown as typed, never as Markdown.
        label = f"{label} · {escape(status, 60, mentions=True)}"
    return (
        f"`{render_bar(state.percent)}` {format_percent(state.percent)} · {label}"
        f" · {format_elapsed(state.elapsed, locale)}"
    )
