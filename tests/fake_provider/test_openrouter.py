"""The fake OpenRouter video API's wire shapes: auth, catalogue, validation, statuses, content."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.fake_provider import SAMPLE_VIDEO, FakeProvider, Scenario
from bot.fake_provider.openrouter import STATE_KEY
from tests.support.fake_provider import KEY, call, data_url

OR = "/api/v1/videos"
TERMINAL = {"completed", "failed", "cancelled", "expired"}


def body(**kw: Any) -> dict[str, Any]:
    """A valid submit body: Veo 3.1, 8 s, portrait, 720p, an inline first frame."""
    frame = {"type": "image_url", "image_url": {"url": data_url(720, 1280)}}
    return {
        "model": "google/veo-3.1",
        "prompt": "waves roll in",
        "duration": 8,
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "frame_images": [{**frame, "frame_type": "first_frame"}],
        **kw,
    }


def fast(**kw: Any) -> Scenario:
    return Scenario(api_key=KEY, steps=2, step_delay=0.01, **kw)


async def until_done(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """Poll a job like a client would, until it reaches a terminal status."""
    for _ in range(500):
        status, job, _ = await call(session, "GET", url)
        assert status == 200, job
        if job["status"] in TERMINAL:
            return dict(job)
        await asyncio.sleep(0.01)
    raise AssertionError("the fake job never ended")


async def test_every_endpoint_wants_the_bearer_key() -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        for auth in ({}, {"Authorization": KEY}, {"Authorization": "Bearer wrong"}):
            async with aiohttp.ClientSession(headers=auth) as anon:
                for method, path in [
                    ("GET", OR + "/models"),
                    ("POST", OR),
                    ("GET", OR + "/abc"),
                    ("GET", OR + "/abc/content?index=0"),
                ]:
                    status, answer, _ = await call(anon, method, fake.url + path, json=body())
                    assert status == 401, (auth, path)
                    assert answer["error"]["code"] == 401
    assert fake.recorder.submissions == 0


async def test_catalogue_lists_models_with_their_sets(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        status, answer, _ = await call(session, "GET", fake.url + OR + "/models")
    assert status == 200
    models = {m["id"]: m for m in answer["data"]}
    veo = models["google/veo-3.1"]
    assert veo["supported_durations"] == [4, 6, 8]
    assert veo["supported_aspect_ratios"] == ["16:9", "9:16"]
    assert veo["supported_resolutions"] == ["720p", "1080p"]
    assert "first_frame" in veo["supported_frame_images"]
    assert veo["pricing_skus"] and isinstance(veo["generate_audio"], bool)
    assert any(not m["supported_frame_images"] for m in models.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": 7}, "Unsupported duration 7 for google/veo-3.1; supported: 4, 6, 8"),
        ({"duration": "8"}, "Unsupported duration 8 for google/veo-3.1; supported: 4, 6, 8"),
        ({"aspect_ratio": "1:1"}, "Unsupported aspect_ratio '1:1' for google/veo-3.1"),
        ({"resolution": "4k"}, "Unsupported resolution '4k' for google/veo-3.1"),
        ({"size": "1280x720"}, "Unsupported size '1280x720' for google/veo-3.1"),
        ({"model": "acme/text-only"}, "Model acme/text-only does not support first_frame"),
        ({"model": "nope/none"}, "Model 'nope/none' is not a video generation model"),
        ({"prompt": " "}, "prompt is required"),
        ({"callback_url": "http://bot.example/hooks/x"}, "callback_url must be an HTTPS URL"),
    ],
)
async def test_values_outside_the_sets_are_400(
    session: aiohttp.ClientSession, change: dict[str, Any], message: str
) -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        status, answer, _ = await call(session, "POST", fake.url + OR, json=body(**change))
    assert status == 400 and answer["error"]["code"] == 400
    assert answer["error"]["message"].startswith(message)
    assert fake.recorder.submissions == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/png;base64,!!!", "is not a valid image"),
        ("data:image/png;base64,aGVsbG8=", "is not a valid image"),
        ("data:text/plain;base64,aGVsbG8=", "must be a base64 image data URL"),
        ("ftp://example.com/a.png", "must be an https URL or a data URL"),
    ],
)
async def test_frame_image_must_be_an_image(
    session: aiohttp.ClientSession, url: str, message: str
) -> None:
    frame = {"type": "image_url", "image_url": {"url": url}, "frame_type": "first_frame"}
    async with FakeProvider("openrouter", fast()) as fake:
        status, answer, _ = await call(
            session, "POST", fake.url + OR, json=body(frame_images=[frame])
        )
    assert status == 400 and message in answer["error"]["message"]


async def test_lifecycle_urls_and_content(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", fast()) as fake:
        status, created, _ = await call(session, "POST", fake.url + OR, json=body())
        assert status == 202 and created["status"] == "pending"
        assert created["polling_url"] == f"{fake.url}{OR}/{created['id']}"
        assert fake.recorder.requests[-1]["frame_size"] == (720, 1280)
        _, first, _ = await call(session, "GET", created["polling_url"])
        assert first["status"] == "pending"
        job = await until_done(session, created["polling_url"])
        assert job["status"] == "completed" and job["usage"]["cost"] > 0
        assert job["urls"][0].startswith(fake.url + "/files/")
        async with aiohttp.ClientSession() as public:  # a signed link needs no key
            _, video, _ = await call(public, "GET", job["urls"][0])
        _, proxied, headers = await call(session, "GET", job["unsigned_urls"][0])
        out_of_range, _, _ = await call(
            session, "GET", f"{fake.url}{OR}/{created['id']}/content?index=1"
        )
    assert video == proxied == SAMPLE_VIDEO.read_bytes()
    assert headers["Content-Type"] == "video/mp4"
    assert out_of_range == 400


@pytest.mark.parametrize(
    ("knobs", "status", "error"),
    [
        (
            {"fail_at": 50, "fail_reason": "Flagged by moderation"},
            "failed",
            "Flagged by moderation",
        ),
        ({"openrouter_end": "cancelled"}, "cancelled", None),
        ({"openrouter_end": "expired"}, "expired", "Video generation job expired"),
    ],
)
async def test_unhappy_endings(
    session: aiohttp.ClientSession, knobs: dict[str, Any], status: str, error: str | None
) -> None:
    async with FakeProvider("openrouter", fast(**knobs)) as fake:
        _, created, _ = await call(session, "POST", fake.url + OR, json=body())
        job = await until_done(session, created["polling_url"])
        content, _, _ = await call(session, "GET", f"{created['polling_url']}/content?index=0")
    assert job["status"] == status and job.get("error") == error
    assert "urls" not in job and content == 400


async def test_callback_is_posted_once_to_the_proxy(session: aiohttp.ClientSession) -> None:
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append({"path": request.path, "json": await request.json()})
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/{token}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        knobs = fast(callback_origin=f"http://127.0.0.1:{port}")
        async with FakeProvider("openrouter", knobs) as fake:
            callback = "https://bot.example.test/hooks/tok123"
            status, created, _ = await call(
                session, "POST", fake.url + OR, json=body(callback_url=callback)
            )
            assert status == 202
            await asyncio.wait_for(arrived.wait(), 10)
            sent = fake.app[STATE_KEY].callbacks_sent
    finally:
        await runner.cleanup()
    assert received == [{"path": "/hooks/tok123", "json": received[0]["json"]}]
    assert received[0]["json"]["id"] == created["id"]
    assert received[0]["json"]["status"] == "completed"
    assert sent[0]["url"] == callback and sent[0]["status"] == 204
