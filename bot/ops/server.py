"""The health and metrics server (when ``HEALTH_PORT`` is set): ``/healthz`` and ``/metrics``.

``/healthz`` answers 200 when every check passes and 503 otherwise, with a JSON
body naming each check: the Discord gateway is connected, the database takes a
write, and the provider's base URL answers (any HTTP status below 500) within
``HEALTH_PROVIDER_TIMEOUT``. The provider probe is cached for a few seconds so
frequent health checks do not hammer it, and it never sends the API key.

Neither page may slow a member down, however often it is asked: ``/metrics``
reads a shared snapshot on the store's read-only connection (see
:mod:`bot.ops.metrics`), and the database check of ``/healthz`` is one tiny
write shared by every check asking at the same time (see
:meth:`HealthChecks.database`).

Both pages answer anyone who reaches the port: keep ``HEALTH_HOST`` on
``127.0.0.1`` or, in Docker, publish the port only to the host's loopback or to
Prometheus's network (README, "Docker").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.db import Store
from bot.ops.cache import Fresh
from bot.ops.metrics import CONTENT_TYPE, Metrics
from bot.ops.provider_metrics import ProviderHealth

log = logging.getLogger(__name__)

PROVIDER_CACHE_SECONDS = 10.0
DATABASE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result; ``detail`` says why it failed (never a secret)."""

    ok: bool
    detail: str = ""
    ms: float | None = None


class HealthChecks:
    """The three checks behind ``/healthz``."""

    def __init__(
        self,
        *,
        connected: Callable[[], bool],
        store: Store,
        session: aiohttp.ClientSession,
        provider_url: str,
        provider_timeout: float,
        providers: ProviderHealth | None = None,
    ) -> None:
        self.connected = connected
        self.providers = providers  # each configured provider's breaker, when several
        self.store = store
        self.session = session
        self.provider_url = provider_url
        self.provider_timeout = provider_timeout
        self._provider = Fresh(self._probe, max_age=PROVIDER_CACHE_SECONDS)
        self._database = Fresh(self._write, max_age=0)

    async def run(self) -> dict[str, Check]:
        """Every check, the slow ones concurrently."""
        database, provider = await asyncio.gather(self.database(), self.provider())
        gateway = Check(True) if self.connected() else Check(False, "not connected to Discord")
        checks = {"gateway": gateway, "database": database, "provider": provider}
        if self.providers is not None:
            checks["providers"] = providers_check(self.providers())
        return checks

    async def database(self) -> Check:
        """Whether a small write commits within a few seconds, started after this call.

        The write goes through the store's own connection and lock, because
        that is what a reservation needs to work: a second connection could
        write while the store's is stuck. It cannot hold reservations up for
        long: it is one single-row upsert (held for well under a millisecond),
        and checks that arrive while one is waiting or running share its
        result (:class:`~bot.ops.cache.Fresh` with ``max_age=0``), so however
        many health checks arrive at once, at most one write waits in the
        store's queue, in turn with the reservations.
        """
        return await self._database.get()

    async def _write(self) -> Check:
        started = time.monotonic()
        try:
            await asyncio.wait_for(self.store.health_write(), DATABASE_TIMEOUT)
        except Exception as exc:  # any failure to write is "unhealthy", whatever raised it
            return Check(False, f"write failed: {type(exc).__name__}")
        return Check(True, ms=_ms(started))

    @property
    def database_writes(self) -> int:
        """How many health writes ran (concurrent checks share one)."""
        return self._database.runs

    async def provider(self) -> Check:
        """Whether the provider's base URL answers; cached for a few seconds."""
        return await self._provider.get()

    def forget_provider(self) -> None:
        """Probe the provider again at the next check instead of using the cached answer."""
        self._provider.forget()

    async def _probe(self) -> Check:
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=self.provider_timeout)
        try:
            async with self.session.get(
                self.provider_url, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return Check(False, f"no answer within {self.provider_timeout:g}s", _ms(started))
        except aiohttp.ClientError as exc:
            return Check(False, f"unreachable: {type(exc).__name__}", _ms(started))
        if status >= 500:
            return Check(False, f"answered HTTP {status}", _ms(started))
        return Check(True, f"HTTP {status}", _ms(started))


def providers_check(health: Mapping[str, Mapping[str, Any]]) -> Check:
    """Fails only when every provider is being skipped; names the skipped ones."""
    skipped = [
        f"{name} skipped (retry in {state.get('retry_in', 0):g}s)"
        for name, state in health.items()
        if not state.get("ok")
    ]
    ok = len(skipped) < len(health)
    taking = [name for name, state in health.items() if state.get("ok")]
    detail = "; ".join([*(["taking jobs: " + ", ".join(taking)] if taking else []), *skipped])
    return Check(ok, detail)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


class WebServer:
    """An aiohttp server for ``/healthz`` and ``/metrics``; ``start()`` then ``close()``.

    ``shards`` names the shards this process connects: ``/healthz`` reports
    them (each shard cluster answers for its own shards).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        checks: HealthChecks,
        metrics: Metrics,
        store: Store,
        shards: Callable[[], Sequence[int]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.checks = checks
        self.metrics = metrics
        self.store = store
        self.shards = shards
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; ``port`` then tells which)."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("health and metrics on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        """200 with every check when healthy, 503 when any check fails."""
        checks = await self.checks.run()
        healthy = all(check.ok for check in checks.values())
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unhealthy",
            "checks": {name: _public(check) for name, check in checks.items()},
        }
        if self.shards is not None:
            body["shards"] = list(self.shards())
        if not healthy:
            log.warning("health check failed: %s", body["checks"])
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        """The Prometheus text format."""
        try:
            payload = await self.metrics.render(self.store)
        except Exception as exc:  # a scrape must not crash the server, whatever failed
            log.warning("metrics unavailable: %s", exc)
            return web.Response(status=503, text="database unavailable\n")
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE})


def _public(check: Check) -> dict[str, Any]:
    return {k: v for k, v in asdict(check).items() if v not in ("", None)}
