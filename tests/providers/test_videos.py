"""The videos client against the fake videos server, end to end over loopback."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

import aiohttp
import pytest

from bot.config import ProviderSettings
from bot.fake_provider.app import SAMPLE_VIDEO, FakeProvider
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
    BadRequest,
    ContentRejected,
    GenerationFailed,
    ProviderAuthError,
    ProviderError,
    ProviderOutOfCredit,
    ProviderTimeout,
    ProviderUnavailable,
)
from bot.providers.videos import VideosProvider, error_from_video
from tests.support.providers import (
    API_KEY,
    collect,
    failure,
    make_image,
    make_settings,
    scripted_polls,
)
from tests.support.providers import fast_scenario as scenario

PATH = "/v1/videos"


def request(**kw: Any) -> VideoRequest:
    """A portrait 4 s sora-2 request with a correctly sized image."""
    fields: dict[str, Any] = {
        "prompt": "a cat walks through snow",
        "image": make_image(720, 1280),
        "duration": 4,
        "orientation": "portrait",
        "model": "sora-2",
    }
    fields.update(kw)
    return VideoRequest(**fields)


async def run(
    session: aiohttp.ClientSession, fake: FakeProvider, req: VideoRequest | None = None, **kw: Any
) -> list[Event]:
    """Run one job to its end and return every event."""
    provider = VideosProvider(session, make_settings(fake, **kw))
    return await collect(provider.generate(req or request()))


def status_polls(fake: FakeProvider) -> list[float]:
    """When each status poll (not /content) reached the fake."""
    return [
        r["time"]
        for r in fake.recorder.requests
        if r["method"] == "GET" and r["path"].startswith(PATH + "/") and "/content" not in r["path"]
    ]


async def test_success_downloads_the_bytes(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(steps=5, queued_polls=2)) as fake:
        events = await run(session, fake)
    assert isinstance(events[0], Submitted) and events[0].task_id.startswith("video_")
    assert events[1] == Queued("queued")
    progress = [e.percent for e in events if isinstance(e, Progress) and e.percent is not None]
    assert progress and progress == sorted(set(progress))
    end = events[-1]
    assert isinstance(end, Completed) and end.url is None and end.file is not None
    try:  # streamed to a temporary file that now belongs to the caller
        assert end.file.read_bytes() == SAMPLE_VIDEO.read_bytes()
    finally:
        end.file.unlink()
    form = fake.recorder.requests[0]["form"]
    image = form.pop("input_reference")
    assert form == {
        "prompt": "a cat walks through snow",
        "model": "sora-2",
        "seconds": "4",
        "size": "720x1280",
    }
    assert image == {
        "filename": "input.png",
        "content_type": "image/png",
        "data": request().image.data,  # type: ignore[union-attr]
    }
    assert fake.recorder.count("GET", f"{PATH}/{events[0].task_id}/content") == 1


async def test_satisfies_the_provider_protocol(session: aiohttp.ClientSession) -> None:
    settings = ProviderSettings(protocol="videos", base_url="http://x", api_key="k")
    provider = VideosProvider(session, settings)
    assert isinstance(provider, Provider) and provider.name == "videos"
    caps = provider.capabilities
    assert caps.resumable and caps.cancellable
    assert [m.name for m in caps.models] == ["sora-2", "sora-2-pro"]
    assert caps.model("sora-2").durations == (4, 8, 12) and not caps.model("sora-2").hd
    pro = caps.model("sora-2-pro")
    assert pro.size("portrait", hd=True) == (1024, 1792)
    assert pro.size("landscape", hd=True) == (1792, 1024)
    assert pro.size("landscape") == (1280, 720)


async def test_sora_video_url_skips_the_download(session: aiohttp.ClientSession) -> None:
    async with FakeProvider(
        "videos", scenario(sora_video_url=True, string_timestamps=True)
    ) as fake:
        events = await run(session, fake)
    video_id = events[0].task_id  # type: ignore[union-attr]
    assert events[-1] == Completed(url=f"{fake.url}/files/{video_id}.mp4")
    assert fake.recorder.count("GET", f"{PATH}/{video_id}/content") == 0


async def test_content_json_gives_a_url(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(content_json=True)) as fake:
        events = await run(session, fake)
    video_id = events[0].task_id  # type: ignore[union-attr]
    assert events[-1] == Completed(url=f"{fake.url}/files/{video_id}.mp4")
    assert fake.recorder.count("GET", f"{PATH}/{video_id}/content") == 1


async def test_expired_content(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(expired_content=True)) as fake:
        events = await run(session, fake)
    error = failure(events)
    assert isinstance(error, GenerationFailed)
    assert error.reason == "the video's download link expired"


async def test_download_size_is_capped(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario()) as fake:
        provider = VideosProvider(session, make_settings(fake), max_video_bytes=1000)
        events = await collect(provider.generate(request()))
    error = failure(events)
    assert isinstance(error, GenerationFailed) and "larger than 1000 bytes" in error.reason


async def test_poll_after_ms_is_honoured(session: aiohttp.ClientSession) -> None:
    fast: dict[str, Any] = {"poll_interval": 0.005, "poll_max_interval": 0.05}
    async with FakeProvider("videos", scenario(steps=4, step_delay=0.05)) as fake:
        assert isinstance((await run(session, fake, **fast))[-1], Completed)
    unhinted = status_polls(fake)
    async with FakeProvider("videos", scenario(steps=4, step_delay=0.05, poll_after_ms=60)) as fake:
        assert isinstance((await run(session, fake, **fast))[-1], Completed)
    hinted = status_polls(fake)
    gaps = [b - a for a, b in itertools.pairwise(hinted)]
    assert gaps and min(gaps) >= 0.05  # the header's 60 ms, not the 5 ms backoff start
    assert unhinted[1] - unhinted[0] < 0.05  # without it the client polls sooner
    assert len(hinted) < len(unhinted)


async def test_resume_polls_without_resubmitting(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(steps=10)) as fake:
        provider = VideosProvider(session, make_settings(fake))
        first = cast(AsyncGenerator[Event, None], provider.generate(request()))
        submitted = await anext(first)
        assert isinstance(submitted, Submitted)
        await first.aclose()
        events = await collect(
            VideosProvider(session, make_settings(fake)).resume(submitted.task_id)
        )
    assert isinstance(events[-1], Completed)
    assert not any(isinstance(e, Submitted) for e in events)
    assert fake.recorder.submissions == 1 and fake.recorder.count("POST", PATH) == 1


async def test_cancel_deletes(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with FakeProvider("videos", scenario(never_finish=True)) as fake:
        provider = VideosProvider(session, make_settings(fake))
        first = cast(AsyncGenerator[Event, None], provider.generate(request()))
        submitted = await anext(first)
        assert isinstance(submitted, Submitted)
        await first.aclose()
        await provider.cancel(submitted.task_id)
        assert fake.recorder.deleted == [submitted.task_id]
        await provider.cancel(submitted.task_id)  # already gone: 404, logged, not raised
    assert fake.recorder.count("DELETE", PATH) == 2
    assert "delete failed" in caplog.text
    await provider.cancel("video_x")  # server stopped: still no exception
    assert caplog.text.count("delete failed") == 2


async def test_wrong_key_is_not_retried(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(auth_scheme="raw")) as fake:
        events = await run(session, fake)  # sends "Bearer KEY" where the raw key is wanted
        raw = await run(session, fake, auth_scheme="raw")
    assert isinstance(failure(events), ProviderAuthError)
    assert fake.recorder.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert fake.recorder.requests[1]["headers"]["Authorization"] == API_KEY
    assert isinstance(raw[-1], Completed) and fake.recorder.submissions == 1


async def test_insufficient_balance(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(insufficient_balance=True)) as fake:
        events = await run(session, fake)
    assert isinstance(failure(events), ProviderOutOfCredit) and len(fake.recorder.requests) == 1


async def test_500_then_success_resends_the_form(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(submit_errors=[500, 429])) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)
    posts = [r for r in fake.recorder.requests if r["method"] == "POST"]
    assert len(posts) == 3 and fake.recorder.submissions == 1
    assert posts[0]["form"] == posts[2]["form"]  # a retried multipart body is complete


async def test_500_forever_is_bounded(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(error_forever=502)) as fake:
        events = await run(session, fake, max_retries=3)
    assert isinstance(failure(events), ProviderUnavailable)
    assert len(fake.recorder.requests) == 4


async def test_transient_poll_errors_keep_polling(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(poll_errors=[500, 503, 503])) as fake:
        events = await run(session, fake, max_retries=0)
    assert isinstance(events[-1], Completed)


async def test_policy_failure_late_in_the_job(session: aiohttp.ClientSession) -> None:
    reason = "This content may violate our content policies."
    async with FakeProvider("videos", scenario(fail_at=95, fail_reason=reason)) as fake:
        events = await run(session, fake)
    error = failure(events)
    assert isinstance(error, ContentRejected) and error.reason == reason


async def test_malformed_json_once_is_tolerated(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(malformed_json=True)) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)


async def test_unknown_status_and_synonyms(session: aiohttp.ClientSession) -> None:
    answers: list[dict[str, Any]] = [
        {"id": "v", "status": "pending", "progress": 0},
        {"id": "v", "status": "rendering", "progress": "20"},
        {"id": "v", "status": "processing", "progress": 40},
        {"id": "v", "status": "succeeded", "progress": 100, "url": "https://cdn.example/v.mp4"},
    ]
    fake = FakeProvider("videos", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, answers))
    async with fake:
        events = await run(session, fake)
    assert events[1:] == [
        Queued("pending"),
        Progress(20, "generating"),
        Progress(40, "processing"),
        Completed(url="https://cdn.example/v.mp4"),
    ]


async def test_never_finish_times_out(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("videos", scenario(never_finish=True)) as fake:
        events = await run(session, fake, job_timeout=0.3)
    assert isinstance(failure(events), ProviderTimeout)


@pytest.mark.parametrize(
    ("image", "size", "model", "hd"),
    [
        (make_image(1280, 720), "720x1280", "sora-2", False),
        (make_image(720, 1280), "1024x1792", "sora-2-pro", True),
    ],
)
async def test_wrong_image_size_is_a_bad_request(
    session: aiohttp.ClientSession, image: Any, size: str, model: str, hd: bool
) -> None:
    async with FakeProvider("videos", scenario()) as fake:
        events = await run(session, fake, request(image=image, model=model, hd=hd))
    error = failure(events)
    assert isinstance(error, BadRequest) and error.status == 400
    assert error.reason == "Inpaint image must match the requested width and height"
    assert fake.recorder.requests[0]["form"]["size"] == size


async def test_pro_hd_landscape_jpeg(session: aiohttp.ClientSession) -> None:
    image = make_image(1792, 1024, fmt="JPEG")
    req = request(image=image, model="sora-2-pro", hd=True, orientation="landscape", duration=12)
    async with FakeProvider("videos", scenario()) as fake:
        events = await run(session, fake, req)
    assert isinstance(events[-1], Completed)
    form = fake.recorder.requests[0]["form"]
    assert (form["size"], form["seconds"], form["model"]) == ("1792x1024", "12", "sora-2-pro")
    assert form["input_reference"]["filename"] == "input.jpg"


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        ({"code": "moderation_blocked", "message": "Request blocked."}, ContentRejected, None),
        ({"code": "content_policy_violation", "message": "Nope."}, ContentRejected, "Nope."),
        ({"code": "internal_error", "message": "GPU melted"}, GenerationFailed, "GPU melted"),
        ({"code": "moderation_blocked"}, ContentRejected, "moderation_blocked"),
        ("plain text reason", GenerationFailed, "plain text reason"),
        (None, GenerationFailed, "the provider gave no reason"),
    ],
)
def test_error_from_video(error: object, kind: type[ProviderError], reason: str | None) -> None:
    failure = error_from_video(error)
    assert type(failure) is kind
    if reason is not None:
        assert failure.reason == reason


async def test_api_key_never_in_errors_or_logs(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
    async with FakeProvider("videos", scenario(api_key="sk-other-key-999999")) as fake:
        errors.append(failure(await run(session, fake, api_key=API_KEY)))
    async with FakeProvider(
        "videos", scenario(fail_at=10, fail_reason=f"bad key {API_KEY}")
    ) as fake:
        errors.append(failure(await run(session, fake)))
    async with FakeProvider("videos", scenario(expired_content=True)) as fake:
        errors.append(failure(await run(session, fake)))
    assert caplog.records
    for error in errors:
        assert API_KEY not in str(error) and API_KEY not in error.user_message
    assert API_KEY not in caplog.text
