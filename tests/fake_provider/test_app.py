"""The fake provider server itself: app assembly, files, lifecycle, auth and faults."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from bot.fake_provider import SAMPLE_VIDEO, FakeProvider, Recorder, Scenario, build_app, serve
from bot.fake_provider.app import PROTOCOL_KEY
from bot.fake_provider.common import RECORDER_KEY, SCENARIO_KEY
from bot.fake_provider.generations import STATE_KEY as GENERATIONS_STATE
from tests.support.fake_provider import GEN, KEY, call, gen_body


def test_build_app_validates_protocol_and_keeps_state() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        build_app("smtp")
    scenario, recorder = Scenario(), Recorder()
    app = build_app("generations", scenario, recorder)
    assert app[SCENARIO_KEY] is scenario and app[RECORDER_KEY] is recorder
    assert app[PROTOCOL_KEY] == "generations" and app[GENERATIONS_STATE].tasks == {}
    chat = build_app("chat")  # imported by name, on demand
    assert any(r.resource and r.resource.canonical == "/files/{name}" for r in chat.router.routes())


def test_sample_video_is_a_small_faststart_h264_mp4() -> None:
    data = SAMPLE_VIDEO.read_bytes()
    assert 1000 < len(data) < 100 * 1024
    assert data[4:8] == b"ftyp"
    assert b"avc1" in data
    assert data.index(b"moov") < data.index(b"mdat")


async def test_files_and_lifecycle(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos") as fake:
        assert fake.url.startswith("http://127.0.0.1:") and fake.port > 0
        status, body, headers = await call(session, "GET", f"{fake.url}/files/abc.mp4")
        assert status == 200 and headers["Content-Type"] == "video/mp4"
        assert body == SAMPLE_VIDEO.read_bytes()
        assert (await call(session, "HEAD", f"{fake.url}/files/abc.mp4"))[0] == 200
        assert (await call(session, "GET", f"{fake.url}/files/abc.txt"))[0] == 404
        assert fake.recorder.count("GET", "/files/") == 2
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, "GET", f"{fake.url}/files/abc.mp4")


@pytest.mark.parametrize(
    ("scheme", "header", "ok"),
    [
        ("bearer", f"Bearer {KEY}", True),
        ("bearer", KEY, False),
        ("raw", KEY, True),
        ("raw", f"Bearer {KEY}", False),
        ("any", KEY, True),
        ("any", f"Bearer {KEY}", True),
        ("any", "Bearer nope", False),
    ],
)
async def test_auth_schemes(scheme: Any, header: str, ok: bool) -> None:
    async with (
        FakeProvider("generations", Scenario(api_key=KEY, auth_scheme=scheme)) as fake,
        aiohttp.ClientSession(headers={"Authorization": header}) as client,
    ):
        status, body, _ = await call(client, "POST", fake.url + GEN, json=gen_body())
    if ok:
        assert status == 200 and body["task_id"]
    else:
        assert status == 401
        assert body["error"]["message"] == "Invalid signature" and body["error"]["type"] == "401"
    assert len(fake.recorder.requests) == 1 and fake.recorder.submissions == int(ok)


async def test_faults_are_consumed_and_carry_retry_after(session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY, submit_errors=[429, 500], retry_after=1.5)
    async with FakeProvider("generations", scenario) as fake:
        first = await call(session, "POST", fake.url + GEN, json=gen_body())
        second = await call(session, "POST", fake.url + GEN, json=gen_body())
        third = await call(session, "POST", fake.url + GEN, json=gen_body())
        scenario.error_forever = 503
        forever = await call(session, "GET", f"{fake.url}{GEN}/{third[1]['task_id']}")
    assert (first[0], first[2]["Retry-After"]) == (429, "1.5")
    assert second[0] == 500 and "Retry-After" not in second[2]
    assert third[0] == 200 and scenario.submit_errors == []
    assert forever[0] == 503 and forever[2]["Retry-After"] == "1.5"


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    started = asyncio.Event()
    urls: list[str] = []

    class Announcement(logging.Handler):
        """Learns the URL from serve()'s "listening on" line (port 0 picks a free port)."""

        def emit(self, record: logging.LogRecord) -> None:
            if "listening on" in record.msg and isinstance(record.args, tuple):
                urls.append(str(record.args[1]))
                started.set()

    logger = logging.getLogger("bot.fake_provider.app")
    handler = Announcement()
    logger.addHandler(handler)
    task = asyncio.create_task(serve("videos", 0, Scenario(api_key=KEY)))
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
        status, _, _ = await call(session, "GET", f"{urls[0]}/files/demo.mp4")
        assert status == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        logger.removeHandler(handler)
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, "GET", f"{urls[0]}/files/demo.mp4")
