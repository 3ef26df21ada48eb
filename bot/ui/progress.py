"""Pure rendering of job progress: bars, percents, elapsed time, status lines."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def format_elapsed(seconds: float) -> str:
    """``"45s"``, ``"3m 05s"``, ``"1h 02m"``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass(frozen=True, slots=True)
class ProgressState:
    """What a progress display shows at one moment."""

    stage: str  # "waiting", "queued", "generating", "finishing"
    percent: float | None = None
    status: str | None = None  # the provider's own status text
    position: int | None = None  # position in the bot's own queue, 1-based
    elapsed: float = 0.0


STAGE_LABELS = {
    "waiting": "Waiting for a free slot",
    "queued": "Queued at the video service",
    "generating": "Generating",
    "finishing": "Finishing up",
}


def render_line(state: ProgressState) -> str:
    """One line: bar, percent, stage/status, queue position and elapsed time."""
    label = STAGE_LABELS.get(state.stage, state.stage.capitalize())
    if state.stage == "waiting" and state.position is not None:
        label = f"{label} (position {state.position} in queue)"
    status = (state.status or "").strip()
    if status and status.lower() not in label.lower():
        # The provider's words: shown as typed, never as Markdown.
        label = f"{label} · {escape(status, 60, mentions=True)}"
    return (
        f"`{render_bar(state.percent)}` {format_percent(state.percent)} · {label}"
        f" · {format_elapsed(state.elapsed)}"
    )
