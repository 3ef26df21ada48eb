"""HTTP plumbing shared by the three protocols: auth, typed errors, bounded retries, polling.

Retries: 429, 5xx and connection failures are retried up to ``max_retries``
times with exponential backoff, honouring ``Retry-After``; 400/401/403 never
are. A POST that may have reached the provider (the connection dropped after the
request was sent) is not retried, so a job is never submitted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.config import ProviderSettings
from bot.providers.errors import (
    ProviderError,
    ProviderProtocolError,
    ProviderUnavailable,
    error_for_status,
    redact,
)

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 120.0  # never sleep longer than this on one hint
END_SLACK = 0.05  # poll this long after the expected end, so the job is over by then


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def poll_after_hint(headers: Mapping[str, str]) -> float | None:
    """Seconds from the ``openai-poll-after-ms`` header, if present and sane."""
    raw = headers.get("openai-poll-after-ms")
    if not raw:
        return None
    try:
        value = float(raw) / 1000
    except ValueError:
        return None
    return value if value >= 0 else None


def error_message(body: str) -> str:
    """The human message of an error body: ``{"error": {"message"}}``, ``{"message"}`` or text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "no details"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            for key in ("message", "msg", "type", "code"):
                if err.get(key):
                    return str(err[key])
        if isinstance(err, str) and err:
            return err
        for key in ("message", "msg", "detail", "fail_reason"):
            if data.get(key):
                return str(data[key])
    return body.strip()[:500] or "no details"


@dataclass(frozen=True, slots=True)
class JSONResponse:
    """A decoded JSON body with the headers that matter for pacing."""

    data: Any
    headers: Mapping[str, str]


class ProviderHTTP:
    """One provider's HTTP client on a shared :class:`aiohttp.ClientSession`."""

    # Swappable (tests record the waits instead of sleeping them, as with PollClock).
    sleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)

    def __init__(self, session: aiohttp.ClientSession, settings: ProviderSettings) -> None:
        self.session = session
        self.settings = settings

    def url(self, path: str) -> str:
        """``path`` (starting with ``/``) on the configured origin."""
        return self.settings.base_url + path

    @property
    def headers(self) -> dict[str, str]:
        """Auth and accept headers for every request."""
        return {"Authorization": self.settings.auth_header, "Accept": "application/json"}

    def redact(self, text: str) -> str:
        """``text`` with the API key removed."""
        return redact(text, self.settings.api_key)

    async def _raise_for_status(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status < 400:
            return
        body = await resp.text(errors="replace")
        message = self.redact(error_message(body))
        raise error_for_status(resp.status, message, retry_after=parse_retry_after(resp.headers))

    def _backoff(self, attempt: int, error: ProviderError) -> float:
        """Seconds before retry ``attempt + 1``: exponential, lengthened (never shortened) by hints.

        A ``Retry-After: 0`` on a failure must not turn the retries into a burst.
        """
        normal = min(self.settings.retry_backoff * (2**attempt), 30.0)
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return max(normal, min(float(hint), MAX_RETRY_AFTER))
        return normal

    @asynccontextmanager
    async def open(
        self, method: str, path: str, *, timeout: aiohttp.ClientTimeout | None = None, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request (with bounded retries) and yield the successful response.

        Raises a typed :class:`ProviderError` once retries are exhausted or the
        error is not retryable.
        """
        timeout = timeout or aiohttp.ClientTimeout(total=self.settings.request_timeout)
        attempt = 0
        while True:
            try:
                resp = await self.session.request(
                    method, self.url(path), headers=self.headers, timeout=timeout, **kwargs
                )
            except (aiohttp.ClientConnectorError, aiohttp.ClientConnectionResetError) as exc:
                error: ProviderError = ProviderUnavailable(
                    self.redact(f"cannot reach the provider: {exc}")
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = ProviderUnavailable(
                    self.redact(f"{method} {path} failed: {type(exc).__name__}: {exc}")
                )
                if method != "GET":  # the provider may have accepted it: never resubmit
                    raise error from None
            else:
                try:
                    await self._raise_for_status(resp)
                except ProviderError as exc:
                    resp.release()
                    error = exc
                else:
                    try:
                        yield resp
                    finally:
                        resp.release()
                    return
            if not error.retryable or attempt >= self.settings.max_retries:
                raise error
            delay = self._backoff(attempt, error)
            attempt += 1
            log.warning(
                "%s %s: %s; retry %d/%d in %.1fs",
                method,
                path,
                error,
                attempt,
                self.settings.max_retries,
                delay,
            )
            await self.sleep(delay)

    async def json(self, method: str, path: str, **kwargs: Any) -> JSONResponse:
        """Send a request and decode its JSON answer (ProviderProtocolError if it is not JSON)."""
        try:
            async with self.open(method, path, **kwargs) as resp:
                text = await resp.text(errors="replace")
                headers = resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:  # the body was cut off mid-read
            raise ProviderUnavailable(
                self.redact(f"{method} {path}: reading the answer failed: {type(exc).__name__}")
            ) from None
        try:
            return JSONResponse(json.loads(text), headers)
        except ValueError:
            snippet = self.redact(text.strip()[:200])
            raise ProviderProtocolError(f"{method} {path} answered non-JSON: {snippet!r}") from None


class PollClock:
    """Pacing for status polls: the provider's hints, the job's expected end, and push.

    - A hint (``openai-poll-after-ms``, ``Retry-After``) is a floor: never poll
      sooner than the provider asks. It is itself held to at least
      ``poll_interval``: a hint of 0 would otherwise mean a request loop with
      no pause at all (thousands of requests a second for one job).
    - Without a progress estimate: the hint, else 2 s, 4 s, 8 s... capped at
      ``poll_max_interval``.
    - Once the percent has moved twice (:meth:`observe`), the remaining time is
      estimated from the progress rate: far from done the clock polls only every
      ``poll_max_interval`` (enough to keep the progress bar moving); when the
      end is nearer than that, it sleeps until just after the expected end, then
      polls every ``poll_interval`` (or the hint) until the job is over.
    - With push (``wake`` given, the provider will call back) polls are a slow
      fallback, never more often than ``poll_max_interval``; a push wakes the
      waiting poll at once.

    Also owns the overall deadline of a job (``PROVIDER_JOB_TIMEOUT``).
    """

    # How the clock waits; tests swap in a virtual clock to count polls without wall time.
    sleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        started: float | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.deadline = (time.monotonic() if started is None else started) + settings.job_timeout
        self._next = settings.poll_interval
        self._first: tuple[float, float] | None = None  # (time, percent) first seen moving
        self._last: tuple[float, float] | None = None
        self.wake = wake
        self.pushed = False  # the provider's call came (the next poll is immediate)

    @property
    def expired(self) -> bool:
        """Whether the overall time limit has passed."""
        return time.monotonic() >= self.deadline

    def observe(self, percent: float | None, now: float | None = None) -> None:
        """Note the job's percent as reported now (for the remaining-time estimate)."""
        if percent is None or not 0 < percent < 100:
            return
        point = (time.monotonic() if now is None else now, percent)
        if self._first is None:
            self._first = point
        elif percent > (self._last or self._first)[1]:
            self._last = point

    def _rate(self) -> float | None:
        """Percent per second between the first and the latest moving observation."""
        if self._first is None or self._last is None:
            return None
        (t0, p0), (t1, p1) = self._first, self._last
        if t1 <= t0 or p1 <= p0:
            return None
        return (p1 - p0) / (t1 - t0)

    def remaining(self, now: float | None = None) -> float | None:
        """Expected seconds until the job ends, from its progress rate; None if unknown.

        Providers truncate (36.9% reads "36%"), so the job is at least where it
        says: this is the latest the end should come, if progress stays steady.
        """
        rate = self._rate()
        if rate is None or self._last is None:
            return None
        t1, p1 = self._last
        now = time.monotonic() if now is None else now
        return (100.0 - p1) / rate - (now - t1)

    def next_delay(self, hint: float | None = None, now: float | None = None) -> float:
        """How long to wait before the next poll, never past the deadline."""
        now = time.monotonic() if now is None else now
        settings = self.settings
        cap = settings.poll_max_interval
        floor = None if hint is None else max(min(hint, cap * 4), settings.poll_interval)
        if floor is not None:
            delay = floor
        else:
            delay = self._next
            self._next = min(self._next * 2, cap)
        remaining, rate = self.remaining(now), self._rate()
        if remaining is not None and rate is not None:
            near = floor if floor is not None else settings.poll_interval
            if remaining < -cap:  # long overdue: the estimate is wrong; poll at the cap
                delay = cap
            elif remaining > cap:  # far: refresh progress; leave one short hop before the end
                delay = max(min(cap, remaining - near), near)
            else:  # near: be there just after the expected end...
                # ...which is uncertain by one percent's time: never aim more than
                # `near` past the earliest it could be.
                target = min(remaining, remaining - 1 / rate + near)
                delay = max(target + END_SLACK, near)
        if self.wake is not None and not self.pushed:
            delay = max(delay, cap)  # push tells us about the end: polls only refresh progress
        if floor is not None:
            delay = max(delay, floor)
        return max(0.0, min(delay, self.deadline - now))

    async def wait(self, hint: float | None = None) -> None:
        """Sleep until the next poll is due, or until a push arrives."""
        delay = self.next_delay(hint)
        if self.wake is None or self.pushed:
            await self.sleep(delay)
            return
        try:
            async with asyncio.timeout(delay):
                await self.wake.wait()
        except TimeoutError:
            return
        self.pushed = True  # accepted once: from now on, ordinary polling
