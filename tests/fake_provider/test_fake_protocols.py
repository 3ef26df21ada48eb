"""The fake task APIs' wire shapes: validation, statuses and quirks, hooks, content, delete."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.fake_provider import SAMPLE_VIDEO, FakeProvider, Scenario
from bot.fake_provider.generations import STATE_KEY as GENERATIONS_STATE
from tests.support.fake_provider import GEN, KEY, VID, call, data_url, gen_body, vid_form


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": "25"}, "Only sora-2-pro supports 25 seconds"),
        ({"hd": True}, "hd is only supported by sora-2-pro"),
        ({"prompt": ""}, "prompt is required"),
        ({"duration": 10.5}, "duration must be one of 10, 15, 25"),
        (
            {"images": [data_url(1280, 720)]},
            "Inpaint image must match the requested width and height",
        ),
        ({"aspect_ratio": "1:1"}, "aspect_ratio must be 16:9 or 9:16"),
    ],
)
async def test_generations_validation(
    session: aiohttp.ClientSession, change: dict[str, Any], message: str
) -> None:
    async with FakeProvider("generations", Scenario(api_key=KEY)) as fake:
        status, body, _ = await call(session, "POST", fake.url + GEN, json=gen_body(**change))
    assert status == 400 and body["error"]["message"] == message
    assert fake.recorder.submissions == 0


@pytest.mark.parametrize(
    ("quirks", "statuses", "progress"),
    [
        ({}, ["NOT_START", "IN_PROGRESS", "SUCCESS"], ["0%", "99%", "100%"]),
        (
            {"lowercase_status": True, "numeric_progress": True, "string_timestamps": True},
            ["queued", "in_progress", "succeeded"],
            [0, 99, 100],
        ),
    ],
)
async def test_generations_task_shape(
    session: aiohttp.ClientSession, quirks: dict[str, Any], statuses: list[str], progress: list[Any]
) -> None:
    # step_delay 0: the job is due at once, but a poll still sees it running first.
    scenario = Scenario(api_key=KEY, step_delay=0, **quirks)
    async with FakeProvider("generations", scenario) as fake:
        _, submitted, _ = await call(session, "POST", fake.url + GEN, json=gen_body())
        polls = [
            (await call(session, "GET", f"{fake.url}{GEN}/{submitted['task_id']}"))[1]
            for _ in range(3)
        ]
    assert [p["status"] for p in polls] == statuses
    assert [p["progress"] for p in polls] == progress
    assert polls[-1]["data"] == {"output": f"{fake.url}/files/{submitted['task_id']}.mp4"}
    stamp = str if quirks else int
    assert isinstance(polls[-1]["submit_time"], stamp) and isinstance(
        polls[-1]["finish_time"], stamp
    )


async def test_generations_notify_hook_without_polling(session: aiohttp.ClientSession) -> None:
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        arrived.set()
        return web.Response()

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    runner = web.AppRunner(hook_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    scenario = Scenario(api_key=KEY, steps=2, step_delay=0.01, fail_at=50, fail_reason="nope")
    try:
        async with FakeProvider("generations", scenario) as fake:
            body = gen_body(notify_hook=hook_url)
            _, submitted, _ = await call(session, "POST", fake.url + GEN, json=body)
            await asyncio.wait_for(arrived.wait(), timeout=5)
            sent = fake.app[GENERATIONS_STATE].hooks_sent
    finally:
        await runner.cleanup()
    assert len(received) == 1 and len(sent) == 1 and sent[0]["status"] == 200
    assert received[0]["task_id"] == submitted["task_id"]
    assert (received[0]["status"], received[0]["fail_reason"]) == ("FAILURE", "nope")


async def test_malformed_json_once_per_job(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", Scenario(api_key=KEY, malformed_json=True)) as fake:
        _, video, _ = await call(session, "POST", fake.url + VID, data=vid_form())
        url = f"{fake.url}{VID}/{video['id']}"
        async with session.get(url) as resp:
            with pytest.raises(ValueError):
                await resp.json()
        assert (await call(session, "GET", url))[1]["status"] == "queued"


async def test_videos_lifecycle(session: aiohttp.ClientSession) -> None:
    scenario = Scenario(
        api_key=KEY, step_delay=0, poll_after_ms=250, string_timestamps=True, sora_video_url=True
    )
    async with FakeProvider("videos", scenario) as fake:
        status, video, headers = await call(session, "POST", fake.url + VID, data=vid_form())
        assert status == 200 and headers["openai-poll-after-ms"] == "250"
        assert (video["object"], video["status"], video["progress"]) == ("video", "queued", 0)
        assert isinstance(video["created_at"], str) and video["created_at"].isdigit()
        url = f"{fake.url}{VID}/{video['id']}"
        assert (await call(session, "GET", url + "/content"))[0] == 409  # not ready yet
        polls = [(await call(session, "GET", url))[1] for _ in range(3)]
        assert [p["status"] for p in polls] == ["queued", "in_progress", "completed"]
        assert polls[-1]["soraVideoUrl"] == f"{fake.url}/files/{video['id']}.mp4"
        assert int(polls[-1]["expires_at"]) - int(polls[-1]["completed_at"]) == 3600
        content = await call(session, "GET", url + "/content")
        assert content[2]["Content-Type"] == "video/mp4" and content[1] == SAMPLE_VIDEO.read_bytes()
        thumb = await call(session, "GET", url + "/content", params={"variant": "thumbnail"})
        assert thumb[2]["Content-Type"] == "image/png" and thumb[1].startswith(b"\x89PNG")
        scenario.content_json = True
        assert (await call(session, "GET", url + "/content"))[1]["url"].endswith(".mp4")
        scenario.expired_content = True
        assert (await call(session, "GET", url + "/content"))[0] == 404
        deleted = await call(session, "DELETE", url)
        assert deleted[1] == {"id": video["id"], "object": "video.deleted", "deleted": True}
        assert (await call(session, "DELETE", url))[0] == 404
        assert (await call(session, "GET", url))[0] == 404
    assert fake.recorder.deleted == [video["id"]]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            vid_form(size="1024x1792", image=(1024, 1792)),
            "size 1024x1792 is only supported by sora-2-pro",
        ),
        (vid_form(image=(1280, 720)), "Inpaint image must match the requested width and height"),
        (vid_form(seconds="5"), "seconds must be one of 4, 8, 12"),
        (
            vid_form(size="640x480", image=None),
            "size must be one of 1024x1792, 1280x720, 1792x1024, 720x1280",
        ),
    ],
)
async def test_videos_validation(session: aiohttp.ClientSession, form: Any, message: str) -> None:
    async with FakeProvider("videos", Scenario(api_key=KEY)) as fake:
        status, body, _ = await call(session, "POST", fake.url + VID, data=form)
    assert status == 400 and body["error"]["message"] == message
    assert fake.recorder.submissions == 0


async def test_videos_json_create_and_failure_codes(session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY, step_delay=0, fail_at=0, fail_reason="Blocked by moderation")
    async with FakeProvider("videos", scenario) as fake:
        _, video, _ = await call(session, "POST", fake.url + VID, json={"prompt": "p"})
        url = f"{fake.url}{VID}/{video['id']}"
        polls = [(await call(session, "GET", url))[1] for _ in range(3)]
        scenario.fail_reason = "GPU melted"
        _, other, _ = await call(session, "POST", fake.url + VID, json={"prompt": "p"})
        other_polls = [
            (await call(session, "GET", f"{fake.url}{VID}/{other['id']}"))[1] for _ in range(3)
        ]
    assert fake.recorder.requests[0]["json"] == {"prompt": "p"}
    assert (video["seconds"], video["size"]) == ("4", "720x1280")
    assert polls[-1]["status"] == "failed"
    assert polls[-1]["error"] == {"code": "moderation_blocked", "message": "Blocked by moderation"}
    assert other_polls[-1]["error"]["code"] == "generation_failed"


async def test_image_size_check_can_be_turned_off(session: aiohttp.ClientSession) -> None:
    scenario = Scenario(api_key=KEY, check_image_size=False)
    async with FakeProvider("videos", scenario) as fake:
        video = await call(session, "POST", fake.url + VID, data=vid_form(image=(1280, 720)))
    async with FakeProvider("generations", scenario) as fake:
        body = gen_body(images=[data_url(1280, 720)])
        task = await call(session, "POST", fake.url + GEN, json=body)
    assert video[0] == 200 and task[0] == 200
