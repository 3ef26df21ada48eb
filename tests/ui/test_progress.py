"""Progress rendering: bars, percents, elapsed time, status lines."""

import pytest

from bot.ui.progress import (
    BAR_WIDTH,
    EMPTY,
    FULL,
    ProgressState,
    format_elapsed,
    format_percent,
    render_bar,
    render_line,
)


@pytest.mark.parametrize(
    ("percent", "filled"),
    [
        (None, 0),
        (0, 0),
        (-5, 0),
        (50, BAR_WIDTH // 2),
        (99.9, BAR_WIDTH - 1),
        (100, BAR_WIDTH),
        (150, BAR_WIDTH),
    ],
)
def test_bar_fill(percent: float | None, filled: int) -> None:
    bar = render_bar(percent)
    assert len(bar) == BAR_WIDTH
    assert bar == FULL * filled + EMPTY * (BAR_WIDTH - filled)


@pytest.mark.parametrize(
    ("percent", "text"), [(None, "--%"), (0, "0%"), (36.9, "36%"), (100, "100%"), (120, "100%")]
)
def test_percent(percent: float | None, text: str) -> None:
    assert format_percent(percent) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m 00s"),
        (185, "3m 05s"),
        (3600, "1h 00m"),
        (7325, "2h 02m"),
        (-3, "0s"),
    ],
)
def test_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


def test_line_shows_bar_percent_status_and_time() -> None:
    line = render_line(ProgressState("generating", 44, "in_progress", elapsed=75))
    assert "44%" in line
    assert render_bar(44) in line
    assert "Generating" in line and "in\\_progress" in line  # escaped: shown as typed
    assert line.endswith("1m 15s")


def test_line_shows_queue_position() -> None:
    line = render_line(ProgressState("waiting", position=3, elapsed=4))
    assert "position 3 in queue" in line
    assert "--%" in line


def test_status_not_repeated_when_label_says_it() -> None:
    line = render_line(ProgressState("queued", status="queued"))
    assert line.lower().count("queued") == 1


def test_failure_message_keeps_refund_line_with_a_huge_reason() -> None:
    from bot.ui.text import CONTENT_LIMIT, failure_message

    options: dict[str, object] = {"duration": 10, "orientation": "portrait", "model": "sora-2"}
    text = failure_message(1, "p" * 5000, options, "r" * 5000)
    assert len(text) <= CONTENT_LIMIT
    assert text.endswith("Your credit was refunded; nothing was charged.")
