"""The status-polling loop shared by the two task protocols (generations, videos).

A submitted job keeps running at the provider whatever happens to one status
request, so the loop is forgiving where a submit is not: a transient error or a
stray malformed answer means "ask again later", and only the job deadline, a
non-transient error (401/403/404...) or the provider's own verdict ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from bot.providers.base import END_EVENTS, Event, Failed, Progress, Queued
from bot.providers.errors import (
    JobCancelled,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from bot.providers.http import PollClock, ProviderHTTP
from bot.providers.normalize import parse_percent

log = logging.getLogger(__name__)

MAX_MALFORMED = 3  # consecutive non-JSON status answers before giving up

# Reads one decoded status object; returns the event it means, or None for "no news".
StatusReader = Callable[[dict[str, Any]], Awaitable[Event | None]]
HintReader = Callable[[Mapping[str, str]], float | None]


class ProgressFilter:
    """Keeps the event stream tidy: percent never goes back, no repeated events."""

    def __init__(self) -> None:
        self._last: Event | None = None
        self._percent: float | None = None

    def admit(self, event: Event) -> Event | None:
        """``event`` as it should be emitted, or ``None`` if it adds nothing."""
        if isinstance(event, Progress):
            percent = event.percent
            if percent is None or (self._percent is not None and percent < self._percent):
                # Providers jitter (or drop the field on some answers): keep the best known.
                percent = self._percent
            self._percent = percent
            event = Progress(percent, event.status)
        elif isinstance(event, Queued) and self._percent is not None:
            # Back to "queued" after rendering started is provider noise, not news.
            return None
        if event == self._last:
            return None
        self._last = event
        return event


async def poll_job(
    http: ProviderHTTP,
    path: str,
    read: StatusReader,
    *,
    task_id: str,
    wait_first: bool,
    hint: HintReader | None = None,
    first_hint: float | None = None,
    wake: asyncio.Event | None = None,
) -> AsyncIterator[Event]:
    """Poll ``GET path`` until ``read`` returns an end event or the job deadline passes.

    Yields ``Queued``/``Progress`` (filtered by :class:`ProgressFilter`) and exactly
    one ``Completed``/``Failed``. ``wait_first`` waits one interval before the
    first poll: right after a submit the job cannot be done yet, while a resumed
    job may have ended while nobody was looking. ``hint`` reads a pacing hint
    from a status answer's headers; ``first_hint`` is the submit answer's.
    ``wake`` is set when the provider calls the job's push hook: the poll that
    follows fetches the final state at once (see :class:`PollClock`).
    """
    clock = PollClock(http.settings, wake=wake)
    progress = ProgressFilter()
    malformed = 0
    if wait_first:
        await clock.wait(first_hint)
    while True:
        if clock.expired:
            limit = http.settings.job_timeout
            yield Failed(ProviderTimeout(f"job {task_id} did not finish within {limit:g}s"))
            return
        event: Event | None = None
        next_hint: float | None = None
        try:
            try:
                answer = await http.json("GET", path)
                if not isinstance(answer.data, dict):
                    raise ProviderProtocolError(
                        f"GET {path} answered {type(answer.data).__name__}, not an object"
                    )
            except ProviderProtocolError as exc:
                malformed += 1
                if malformed >= MAX_MALFORMED:
                    raise
                log.warning(
                    "job %s: unreadable status answer (%d in a row): %s", task_id, malformed, exc
                )
            else:
                malformed = 0
                next_hint = hint(answer.headers) if hint else None
                event = await read(answer.data)
        except (ProviderUnavailable, ProviderRateLimited) as exc:
            # The job still runs at the provider: keep asking until the deadline.
            log.warning("job %s: status poll failed, will retry: %s", task_id, exc)
            next_hint = exc.retry_after
        except (aiohttp.ClientError, TimeoutError) as exc:
            # A body cut off mid-read escapes ProviderHTTP untyped; just as transient.
            log.warning(
                "job %s: status poll failed, will retry: %s",
                task_id,
                http.redact(f"{type(exc).__name__}: {exc}"),
            )
        except ProviderError as exc:
            yield Failed(exc)
            return
        if event is not None:
            if isinstance(event, END_EVENTS):
                yield event
                return
            admitted = progress.admit(event)
            if isinstance(admitted, Progress):
                clock.observe(admitted.percent)
            if admitted is not None:
                yield admitted
        await clock.wait(next_hint)


def unfinished_event(
    state: str | None,
    raw: object,
    data: Mapping[str, Any],
    job: str,
    unknown: set[str],
    logger: logging.Logger,
) -> Event:
    """The event for a task status poll that is not queued or succeeded/failed.

    ``cancelled`` ends the job; ``running`` reports progress; a status nobody
    knows is logged once per job and treated as still running, since new
    vocabulary from some gateway is not worth failing a paid job over.
    """
    label = str(raw).strip().lower() if raw is not None else ""
    if state == "cancelled":
        return Failed(JobCancelled(f"{job} was cancelled at the provider"))
    percent = parse_percent(data.get("progress"))
    if state == "running":
        return Progress(percent, label or "generating")
    if label not in unknown:
        unknown.add(label)
        logger.warning("%s: unknown status %r, still waiting", job, raw)
    return Progress(percent, "generating")
