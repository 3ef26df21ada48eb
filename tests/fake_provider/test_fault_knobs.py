"""The fault knobs the fault-injection tests rely on: slow, cut, broken and odd answers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.fake_provider import FakeProvider, Scenario
from tests.support.fake_provider import GEN, KEY, VID, call, gen_body, vid_form


async def test_slow_submit_abandoned_by_the_client_creates_nothing(
    session: aiohttp.ClientSession,
) -> None:
    scenario = Scenario(api_key=KEY, submit_delays=[0.5])
    async with FakeProvider("generations", scenario) as fake:
        quick = aiohttp.ClientTimeout(total=0.1)
        with pytest.raises(asyncio.TimeoutError):
            await call(session, "POST", fake.url + GEN, json=gen_body(), timeout=quick)
        status, answer, _ = await call(session, "POST", fake.url + GEN, json=gen_body())
        assert status == 200 and "task_id" in answer
    # Stopping the server waited for the slow handler, which saw its client gone.
    assert fake.recorder.requests[0]["outcome"] == "abandoned"
    assert fake.recorder.submissions == 1


async def test_slow_poll_is_answered_late(session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY, poll_delays=[0.3])
    async with FakeProvider("videos", scenario) as fake:
        _, video, _ = await call(session, "POST", fake.url + VID, data=vid_form())
        started = time.monotonic()
        status, _, _ = await call(session, "GET", f"{fake.url}{VID}/{video['id']}")
        assert status == 200 and time.monotonic() - started >= 0.3
        assert scenario.poll_delays == []


@pytest.mark.parametrize("protocol", ["generations", "videos"])
async def test_cut_poll_and_malformed_polls(protocol: str, session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY, cut_poll_at=2, malformed_polls=1)
    async with FakeProvider(protocol, scenario) as fake:
        if protocol == "generations":
            _, answer, _ = await call(session, "POST", fake.url + GEN, json=gen_body())
            url = f"{fake.url}{GEN}/{answer['task_id']}"
        else:
            _, answer, _ = await call(session, "POST", fake.url + VID, data=vid_form())
            url = f"{fake.url}{VID}/{answer['id']}"
        async with session.get(url) as resp:  # 1st: broken JSON
            with pytest.raises(ValueError):
                await resp.json()
        with pytest.raises(aiohttp.ClientPayloadError):  # 2nd: the connection drops
            await call(session, "GET", url)
        status, body, _ = await call(session, "GET", url)  # then normal again
        assert status == 200 and isinstance(body, dict)


@pytest.mark.parametrize(
    ("protocol", "path"), [("generations", GEN), ("videos", VID)], ids=["generations", "videos"]
)
async def test_unknown_status_while_running(
    protocol: str, path: str, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(api_key=KEY, steps=50, step_delay=0.1, unknown_status="WARMING_UP")
    async with FakeProvider(protocol, scenario) as fake:
        if protocol == "generations":
            _, answer, _ = await call(session, "POST", fake.url + path, json=gen_body())
            url = f"{fake.url}{path}/{answer['task_id']}"
        else:
            _, answer, _ = await call(session, "POST", fake.url + path, data=vid_form())
            url = f"{fake.url}{path}/{answer['id']}"
        statuses = [(await call(session, "GET", url))[1]["status"] for _ in range(3)]
        assert statuses[0] in ("NOT_START", "queued") and statuses[1:] == ["WARMING_UP"] * 2


@pytest.mark.parametrize("status", [403, 404])
async def test_expired_result_files(status: int, session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY)
    async with FakeProvider("generations", scenario) as fake:
        assert (await call(session, "GET", fake.url + "/files/x.mp4"))[0] == 200
        scenario.expired_files = status
        assert (await call(session, "GET", fake.url + "/files/x.mp4"))[0] == status
