"""The generations client against the fake generations server, end to end over loopback."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from typing import Any, cast

import aiohttp
import pytest

from bot.config import ProviderSettings
from bot.fake_provider.app import FakeProvider
from bot.providers.base import (
    Completed,
    Event,
    Progress,
    Provider,
    Queued,
    Submitted,
    VideoRequest,
)
from bot.providers.errors import (
    UnsupportedOption,
)
from bot.providers.generations import GenerationsProvider
from tests.support.providers import (
    API_KEY,
    collect,
    hook_receiver,
    make_image,
    make_settings,
    rewrite_submit,
    scripted_polls,
)
from tests.support.providers import fast_scenario as scenario

PATH = "/v2/videos/generations"


def request(**kw: Any) -> VideoRequest:
    """A portrait 10 s sora-2 request with a correctly sized image."""
    fields: dict[str, Any] = {
        "prompt": "a cat walks through snow",
        "image": make_image(720, 1280),
        "duration": 10,
        "orientation": "portrait",
        "model": "sora-2",
    }
    fields.update(kw)
    return VideoRequest(**fields)


async def run(
    session: aiohttp.ClientSession, fake: FakeProvider, req: VideoRequest | None = None, **kw: Any
) -> list[Event]:
    """Run one job to its end and return every event."""
    provider = GenerationsProvider(session, make_settings(fake, **kw))
    return await collect(provider.generate(req or request()))


async def test_success_event_sequence_and_request_body(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(steps=5, queued_polls=2)) as fake:
        events = await run(session, fake)
    assert isinstance(events[0], Submitted)
    assert isinstance(events[1], Queued)
    assert events[1].status == "not_start"
    progress = [e.percent for e in events if isinstance(e, Progress) and e.percent is not None]
    assert progress and len(progress) == sum(isinstance(e, Progress) for e in events), events
    assert progress == sorted(set(progress)), "percent rises strictly"
    assert all(0 <= p < 100 for p in progress)
    assert events[-1] == Completed(url=f"{fake.url}/files/{events[0].task_id}.mp4")
    post = fake.recorder.requests[0]
    assert post["headers"]["Authorization"] == f"Bearer {API_KEY}"
    body = post["json"]
    image = body.pop("images")
    assert body == {
        "prompt": "a cat walks through snow",
        "model": "sora-2",
        "aspect_ratio": "9:16",
        "duration": "10",
        "hd": False,
        "watermark": False,
        "private": True,
    }
    assert image[0].startswith("data:image/png;base64,")
    assert base64.b64decode(image[0].split(",", 1)[1]) == request().image.data  # type: ignore[union-attr]
    assert fake.recorder.submissions == 1


async def test_satisfies_the_provider_protocol(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations") as fake:
        provider = GenerationsProvider(session, make_settings(fake))
    assert isinstance(provider, Provider)
    assert provider.name == "generations"
    assert provider.capabilities.resumable and not provider.capabilities.cancellable


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("numeric", [False, True])
async def test_status_and_progress_quirks(
    session: aiohttp.ClientSession, lowercase: bool, numeric: bool
) -> None:
    quirks = scenario(lowercase_status=lowercase, numeric_progress=numeric, string_timestamps=True)
    async with FakeProvider("generations", quirks) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)
    assert any(isinstance(e, Progress) and e.percent is not None for e in events)
    labels = {e.status for e in events if isinstance(e, Progress)}
    assert labels == {"in_progress"}


@pytest.mark.parametrize("where", ["data.output", "data.outputs", "output", "video_url", "url"])
async def test_every_url_field(session: aiohttp.ClientSession, where: Any) -> None:
    async with FakeProvider("generations", scenario(url_field=where)) as fake:
        events = await run(session, fake)
        assert isinstance(events[-1], Completed)
        assert events[-1].url is not None
        async with session.get(events[-1].url) as resp:  # the URL really serves a video
            assert resp.status == 200
            assert resp.content_type == "video/mp4"


async def test_resume_polls_without_resubmitting(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(steps=10)) as fake:
        provider = GenerationsProvider(session, make_settings(fake))
        first = cast(AsyncGenerator[Event, None], provider.generate(request()))
        submitted = await anext(first)
        assert isinstance(submitted, Submitted)
        await first.aclose()  # the bot restarts
        restarted = GenerationsProvider(session, make_settings(fake))
        events = await collect(restarted.resume(submitted.task_id))
    assert isinstance(events[-1], Completed)
    assert not any(isinstance(e, Submitted) for e in events)
    assert fake.recorder.submissions == 1
    assert fake.recorder.count("POST", PATH) == 1


async def test_percent_never_decreases(session: aiohttp.ClientSession) -> None:
    answers: list[dict[str, Any]] = [
        {"status": "IN_PROGRESS", "progress": p} for p in ("50%", "30%", "50%", "60%", "60%")
    ]
    answers.append({"status": "SUCCESS", "url": "https://cdn.example/x.mp4"})
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, answers))
    async with fake:
        events = await run(session, fake)
    assert [e.percent for e in events if isinstance(e, Progress)] == [50, 60]


@pytest.mark.parametrize(
    "change",
    [lambda b: {"id": b["task_id"]}, lambda b: {"code": 0, "data": {"task_id": b["task_id"]}}],
)
async def test_submit_answer_shapes(session: aiohttp.ClientSession, change: Any) -> None:
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(rewrite_submit(PATH, change))
    async with fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)


async def test_landscape_pro_hd_and_url_images(session: aiohttp.ClientSession) -> None:
    image = make_image(1280, 720, source_url="https://cdn.discordapp.com/a/in.png")
    async with FakeProvider("generations", scenario()) as fake:
        hd15 = request(
            image=image, orientation="landscape", model="sora-2-pro", hd=True, duration=15
        )
        await run(session, fake, hd15, image_mode="url")
        await run(
            session,
            fake,
            request(image=image, orientation="landscape", model="sora-2-pro", hd=True, duration=25),
        )
    first, second = (r["json"] for r in fake.recorder.requests if r["method"] == "POST")
    assert first["images"] == ["https://cdn.discordapp.com/a/in.png"]
    assert (first["aspect_ratio"], first["duration"], first["hd"]) == ("16:9", "15", True)
    assert second["images"][0].startswith("data:image/png")  # image_mode inline
    assert (second["duration"], second["hd"]) == ("25", False)  # hd means nothing at 25 s
    assert fake.recorder.submissions == 2


def test_capabilities() -> None:
    base = ProviderSettings(protocol="generations", base_url="http://x", api_key="k")
    caps = GenerationsProvider(None, base).capabilities  # type: ignore[arg-type]
    assert [m.name for m in caps.models] == ["sora-2", "sora-2-pro"]
    assert caps.model("sora-2").durations == (10, 15) and not caps.model("sora-2").hd
    pro = caps.model("sora-2-pro")
    assert pro.durations == (10, 15, 25) and pro.hd and pro.hd_durations == (10, 15)
    assert pro.size("portrait", hd=True) == (720, 1280)
    assert caps.validate(model="sora-2-pro", duration=25, orientation="landscape")[1] == 25
    with pytest.raises(UnsupportedOption):
        caps.validate(model="sora-2", duration=25, orientation="portrait")
    with pytest.raises(UnsupportedOption):
        caps.validate(model="sora-2-pro", duration=25, orientation="portrait", hd=True)
    custom = ProviderSettings(
        protocol="generations",
        base_url="http://x",
        api_key="k",
        model="sora-2-cheap",
        models=("sora-2-pro", "sora-2-cheap"),
    )
    caps = GenerationsProvider(None, custom).capabilities  # type: ignore[arg-type]
    assert [m.name for m in caps.models] == ["sora-2-cheap", "sora-2-pro"]
    assert caps.default_model.durations == (10, 15) and not caps.default_model.hd


async def test_notify_hook_is_sent_once_and_in_the_request(session: aiohttp.ClientSession) -> None:
    async with hook_receiver() as inbox, FakeProvider("generations", scenario()) as fake:
        provider = GenerationsProvider(session, make_settings(fake), notify_hook=inbox.url)
        events = await collect(provider.generate(request()))
        await asyncio.wait_for(inbox.arrived.wait(), timeout=5)
        assert isinstance(events[-1], Completed)
        assert fake.recorder.requests[0]["json"]["notify_hook"] == inbox.url
        again = await collect(provider.resume(events[0].task_id))  # type: ignore[union-attr]
    assert again == [events[-1]]
    assert len(inbox.received) == 1
    assert inbox.received[0]["status"] == "SUCCESS"
    assert inbox.received[0]["task_id"] == events[0].task_id  # type: ignore[union-attr]


async def test_enveloped_answers(session: aiohttp.ClientSession) -> None:
    url = "https://cdn.example/e.mp4"
    answers: list[dict[str, Any]] = [
        {"code": "success", "data": {"status": "IN_PROGRESS", "progress": "70%"}},
        {"code": "success", "data": {"status": "SUCCESS", "data": {"output": url}}},
    ]
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, answers))
    async with fake:
        events = await run(session, fake)
    assert events[-2:] == [Progress(70, "in_progress"), Completed(url=url)]
