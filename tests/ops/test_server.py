"""`/healthz` and `/metrics` on the configured port, healthy and not, and the Docker check."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.db import Store
from bot.db.sqlite_backend import SqliteBackend
from bot.ops import heartbeat as health
from bot.ops.metrics import Metrics
from bot.ops.server import HealthChecks, WebServer
from tests.support.fake_discord import Bucket
from tests.support.harness import running_world
from tests.support.operator import video


def dead_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz_and_metrics_on_the_configured_port(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        # Progress edits beyond one per 0.3 s get 429s that discord.py must wait out.
        world.discord.rate_limits.webhook_edit = Bucket(limit=1, period=0.3, headers=False)
        async with world.bot(health_port=0) as app:
            assert app.bot.web is not None and app.bot.web.port > 0
            port = app.bot.web.port
            status, kind, body = await get(port, "/healthz")
            assert status == 200 and kind.startswith("application/json")
            payload = json.loads(body)
            assert payload["status"] == "ok"
            assert {k: v["ok"] for k, v in payload["checks"].items()} == {
                "gateway": True,
                "database": True,
                "provider": True,
            }

            assert "✅" in await app.finished(await video(app))
            status, kind, text = await get(port, "/metrics")
            assert status == 200 and kind.startswith("text/plain")
            assert 'sora_jobs_finished_total{outcome="completed"} 1.0' in text
            assert 'sora_jobs{state="running"} 0.0' in text
            assert "sora_queue_depth 0.0" in text
            assert "sora_credits_spent_total 1.0" in text
            assert 'sora_estimated_cost_total{currency="USD"} 1.0' in text
            assert "sora_credits_spent_today 1.0" in text
            assert "sora_provider_render_seconds_count 1.0" in text
            assert 'sora_provider_render_seconds_bucket{le="+Inf"} 1.0' in text
            hits = world.discord.rate_limits.responses_429
            assert hits > 0
            assert f"sora_discord_rate_limited_total {float(hits)}" in text
            assert 'sora_discord_responses_total{status="429"}' in text
            assert 'sora_discord_responses_total{status="200"}' in text
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(port, "/healthz")  # closed with the bot


async def test_unreachable_provider_makes_healthz_fail(tmp_path: Path) -> None:
    async with (
        running_world(tmp_path) as world,
        world.bot(health_port=0, base_url=f"http://127.0.0.1:{dead_port()}") as app,
    ):
        assert app.bot.web is not None
        status, _, body = await get(app.bot.web.port, "/healthz")
        assert status == 503
        checks = json.loads(body)["checks"]
        assert checks["gateway"]["ok"] and checks["database"]["ok"]
        assert not checks["provider"]["ok"] and "unreachable" in checks["provider"]["detail"]
        ok, why = await asyncio.to_thread(health.check_http, "0.0.0.0", app.bot.web.port)
        assert not ok and "failing: provider" in why


async def server(store: Store, session: aiohttp.ClientSession, connected: bool) -> WebServer:
    checks = HealthChecks(
        connected=lambda: connected,
        store=store,
        session=session,
        provider_url=f"http://127.0.0.1:{dead_port()}",
        provider_timeout=0.5,
    )
    web = WebServer(host="127.0.0.1", port=0, checks=checks, metrics=Metrics(), store=store)
    await web.start()
    return web


async def test_disconnected_gateway_and_broken_database(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session, Store.open(tmp_path / "db.sqlite3") as store:
        web = await server(store, session, connected=False)
        try:
            status, _, body = await get(web.port, "/healthz")
            assert status == 503
            checks = json.loads(body)["checks"]
            assert checks["gateway"] == {"ok": False, "detail": "not connected to Discord"}
            assert checks["database"]["ok"]
            # The provider probe is cached: a second answer does not probe again.
            cached = checks["provider"]
            assert json.loads((await get(web.port, "/healthz"))[2])["checks"]["provider"] == cached
            # The database goes away under the bot: both its connections close.
            backend = store._backend
            assert isinstance(backend, SqliteBackend)
            await backend.on_connection(lambda conn: conn.close())
            await backend.on_connection(lambda conn: conn.close(), reader=True)
            status, _, body = await get(web.port, "/healthz")
            assert status == 503
            assert not json.loads(body)["checks"]["database"]["ok"]
            assert (await get(web.port, "/metrics"))[0] == 503
        finally:
            await web.close()


async def test_docker_health_check_uses_healthz_when_the_port_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiohttp.ClientSession() as session, Store.open(tmp_path / "db.sqlite3") as store:
        checks = HealthChecks(
            connected=lambda: True,
            store=store,
            session=session,
            provider_url="http://127.0.0.1:1/",
            provider_timeout=0.5,
        )
        web = WebServer(host="127.0.0.1", port=0, checks=checks, metrics=Metrics(), store=store)
        await web.start()
        try:
            monkeypatch.setenv("HEALTH_PORT", str(web.port))
            monkeypatch.setenv("HEALTH_HOST", "0.0.0.0")
            assert await asyncio.to_thread(health.main) == 1  # the provider is down
            checks.forget_provider()
            checks.provider_url = f"http://127.0.0.1:{web.port}/nowhere"  # any answer < 500
            assert await asyncio.to_thread(health.main) == 0
        finally:
            await web.close()
        monkeypatch.setenv("HEALTH_PORT", str(dead_port()))
        assert await asyncio.to_thread(health.main) == 1
        monkeypatch.setenv("HEALTH_PORT", "")
        monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
        assert health.main() == 1  # no heartbeat yet: the file-based fallback
        health.beat(health.heartbeat_path(str(tmp_path / "db.sqlite3")))
        assert health.main() == 0
