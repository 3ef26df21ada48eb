"""Pure helpers that read the loosely typed answers of the task protocols.

Resellers of the same protocol disagree on case, types and field names:
``"IN_PROGRESS"`` or ``"processing"``, ``"36%"`` or
``36``, ``1716192124`` or ``"1716192124"``, a URL in ``data.output`` or in
``soraVideoUrl``. Everything here is total: odd input gives ``None``, never an
exception, so one quirky field cannot kill a job that is otherwise fine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]

_STATES: dict[str, JobState] = {
    # the generations task API's upper-case values (NOT_START, ...) and gateway synonyms
    "not_start": "queued",
    "not_started": "queued",
    "submitted": "queued",
    "queued": "queued",
    "queueing": "queued",
    "pending": "queued",
    "waiting": "queued",
    "in_progress": "running",
    "processing": "running",
    "running": "running",
    "generating": "running",
    "started": "running",
    "success": "succeeded",
    "succeeded": "succeeded",
    "successful": "succeeded",
    "completed": "succeeded",
    "complete": "succeeded",
    "done": "succeeded",
    "finished": "succeeded",
    "failure": "failed",
    "failed": "failed",
    "fail": "failed",
    "error": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}


def normalize_status(value: object) -> JobState | None:
    """The job state a provider's status value means, or ``None`` when unknown.

    Case, surrounding blanks and ``-``/space versus ``_`` do not matter, so
    ``"IN_PROGRESS"``, ``"in-progress"`` and ``"In Progress"`` are all running.
    """
    if not isinstance(value, str):
        return None
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return _STATES.get(key)


_PERCENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*")


def parse_percent(value: object) -> float | None:
    """A progress value as a percentage in 0-100, or ``None`` when there is none.

    Accepts ``36``, ``36.5``, ``"36"`` and ``"36%"``. Numbers are always read as
    percentages, never as fractions: ``"0.36"`` is 0.36 %, not 36 %. No gateway
    seen sends fractions, and guessing wrong the other way would
    show an early 0.5 % as 50 % and, because progress never goes back, freeze
    the bar there. Values above 100 are capped; negatives, NaN, booleans and
    other text give ``None``.
    """
    number: float
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        if match is None:
            return None
        number = float(match.group(1))
    else:
        return None
    if math.isnan(number) or number < 0:
        return None
    return min(number, 100.0)


def parse_timestamp(value: object) -> float | None:
    """Seconds since the epoch from a number, a numeric string or an ISO-8601 string.

    ``0``/negative mean "not set" (some gateways send 0 instead of null) and give
    ``None``; values that only make sense as milliseconds (after the year 33658)
    are divided by 1000. ISO strings without a zone are taken as UTC.
    """
    if isinstance(value, bool) or value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp()
    if number is None or not math.isfinite(number) or number <= 0:
        return None
    return number / 1000 if number > 1e12 else number


# Where the task APIs put the finished video, most specific first.
_URL_PATHS: tuple[tuple[str, ...], ...] = (
    ("soraVideoUrl",),
    ("data", "output"),
    ("data", "outputs"),
    ("data", "video_url"),
    ("data", "url"),
    ("output",),
    ("outputs",),
    ("video_url",),
    ("videoUrl",),
    ("url",),
    ("result", "url"),
    ("result", "video_url"),
    ("result", "output"),
    ("results",),
    ("data",),
)


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _urls_in(value: object, depth: int = 0) -> Iterator[str]:
    """http(s) URLs in a string, a list of them, or objects with a ``url``-like field."""
    if depth > 2:
        return
    if _is_http_url(value):
        yield str(value).strip()
    elif isinstance(value, list):
        for item in value:
            yield from _urls_in(item, depth + 1)
    elif isinstance(value, dict):
        for key in ("url", "video_url", "output"):
            yield from _urls_in(value.get(key), depth + 1)


def find_video_url(obj: object) -> str | None:
    """The public URL of the finished video in a task/video object, or ``None``.

    Looks in ``soraVideoUrl``, ``data.output``, ``data.outputs[0]``, ``output``,
    ``outputs``, ``video_url``, ``url``, ``result.url`` and similar places; only
    ``http``/``https`` URLs count (a ``data:`` or relative value is not a link
    Discord can show).
    """
    if not isinstance(obj, dict):
        return None
    for path in _URL_PATHS:
        value: Any = obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        for url in _urls_in(value):
            return url
    return None


def ordered_models(
    default: str, configured: tuple[str, ...], fallback: tuple[str, ...]
) -> tuple[str, ...]:
    """Model names to offer: ``configured`` (else ``fallback``), the default first, no repeats."""
    names = [default, *(configured or fallback)]
    return tuple(dict.fromkeys(name for name in names if name))


def find_task_id(data: object) -> str | None:
    """The job id in a submit answer: ``task_id``, ``id``, ``data.task_id`` or ``data.id``."""
    if not isinstance(data, dict):
        return None
    places: list[Any] = [data.get("task_id"), data.get("id")]
    inner = data.get("data")
    if isinstance(inner, dict):
        places += [inner.get("task_id"), inner.get("id")]
    for value in places:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def unwrap_envelope(obj: dict[str, Any]) -> dict[str, Any]:
    """The task object itself when a gateway wraps it as ``{"code", "data": {task}}``."""
    inner = obj.get("data")
    if "status" not in obj and isinstance(inner, dict) and "status" in inner:
        return inner
    return obj
