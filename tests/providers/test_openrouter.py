"""The OpenRouter client against the fake OpenRouter server, end to end over loopback."""

from __future__ import annotations

import base64
import io
import logging
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.config import ProviderSettings
from bot.fake_provider.app import SAMPLE_VIDEO, FakeProvider
from bot.media.images import prepare_image_async
from bot.providers.base import Completed, Event, Progress, Provider, Queued, Submitted, VideoRequest
from bot.providers.errors import (
    BadRequest,
    ContentRejected,
    GenerationFailed,
    JobCancelled,
    ProviderAuthError,
    ProviderProtocolError,
    ProviderUnavailable,
)
from bot.providers.openrouter import JobExpired, OpenRouterProvider
from bot.providers.push import HookRegistry, HookServer
from tests.support.providers import API_KEY, collect, failure, make_image, make_settings
from tests.support.providers import fast_scenario as scenario

PATH = "/api/v1/videos"


def request(**kw: Any) -> VideoRequest:
    """A portrait 8 s Veo request with a correctly sized image."""
    fields: dict[str, Any] = {
        "prompt": "a cat walks through snow",
        "image": make_image(720, 1280),
        "duration": 8,
        "orientation": "portrait",
        "model": "google/veo-3.1",
    }
    fields.update(kw)
    return VideoRequest(**fields)


def provider_for(
    session: aiohttp.ClientSession, fake: FakeProvider, **kw: Any
) -> OpenRouterProvider:
    kw.setdefault("model", "google/veo-3.1")
    return OpenRouterProvider(session, make_settings(fake, **kw))


def submits(fake: FakeProvider) -> list[dict[str, Any]]:
    return [r for r in fake.recorder.requests if r["method"] == "POST" and r["path"] == PATH]


def photo(width: int = 4000, height: int = 3000) -> bytes:
    """A phone photo: the wrong size for every video."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


# ---------------------------------------------------------------- catalogue


async def test_catalogue_drives_capabilities(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake)
        assert isinstance(provider, Provider)
        assert provider.catalogue_loaded is False
        caps = await provider.load_catalogue()
    assert provider.capabilities is caps and provider.catalogue_loaded
    # Only models that accept a first frame; the default model first.
    assert [m.name for m in caps.models] == ["google/veo-3.1", "alibaba/wan-2.6", "acme/widescreen"]
    assert caps.resumable and not caps.cancellable
    veo = caps.model("google/veo-3.1")
    assert veo.durations == (4, 6, 8)
    assert veo.size("portrait") == (720, 1280) and veo.size("landscape") == (1280, 720)
    assert veo.hd and veo.size("portrait", hd=True) == (1080, 1920)
    wan = caps.model("alibaba/wan-2.6")
    assert wan.durations == (5, 10, 15) and wan.size("landscape", hd=True) == (1920, 1080)
    wide = caps.model("acme/widescreen")
    assert set(wide.sizes) == {"landscape"} and not wide.hd  # 16:9 only, one resolution
    assert wide.size("landscape") == (1920, 1080)
    assert provider.catalogue_prices() == {
        "google/veo-3.1": Decimal("0.40"),
        "alibaba/wan-2.6": Decimal("0.06"),
        "acme/widescreen": Decimal("0.07"),  # 7 cents per second
    }


async def test_provider_models_narrow_the_catalogue_and_name_the_missing(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    wanted = ("alibaba/wan-2.6", "acme/text-only", "nope/missing")
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, model="alibaba/wan-2.6", models=wanted)
        with caplog.at_level(logging.WARNING):
            caps = await provider.load_catalogue()
    assert [m.name for m in caps.models] == ["alibaba/wan-2.6"]
    lines = [r.getMessage() for r in caplog.records if "not offered" in r.getMessage()]
    assert len(lines) == 1
    assert "acme/text-only (no first-frame image)" in lines[0]
    assert "nope/missing (not listed)" in lines[0]


async def test_configured_models_before_the_catalogue(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, models=("alibaba/wan-2.6",))
    caps = provider.capabilities
    assert [m.name for m in caps.models] == ["google/veo-3.1", "alibaba/wan-2.6"]
    for spec in caps.models:
        assert spec.durations == (8,) and not spec.hd
        assert spec.size("portrait") == (720, 1280)
    assert provider.catalogue_prices() == {}


@pytest.mark.parametrize(
    "body",
    ["<html>Bad gateway</html>", '{"data": "none"}', '{"data": [1, {"id": 3}, {"id": "x"}]}'],
)
async def test_garbage_catalogue_is_a_typed_error_and_keeps_the_defaults(
    session: aiohttp.ClientSession, body: str
) -> None:
    async with FakeProvider("openrouter", scenario(catalogue_body=body)) as fake:
        provider = provider_for(session, fake)
        before = provider.capabilities
        with pytest.raises(ProviderProtocolError):
            await provider.load_catalogue()
        assert await provider.refresh() is False
    assert provider.capabilities is before and not provider.catalogue_loaded


async def test_catalogue_timeout_falls_back(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario(catalogue_delay=5)) as fake:
        provider = provider_for(session, fake, max_retries=0)
        before = provider.capabilities
        with pytest.raises(ProviderUnavailable):
            await provider.load_catalogue(timeout=0.2)
    assert provider.capabilities is before
    assert before.model("google/veo-3.1").durations == (8,)


# ---------------------------------------------------------------- jobs


async def test_completed_job_gives_the_signed_url(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake)
        await provider.load_catalogue()
        events = await collect(provider.generate(request()))
    assert isinstance(events[0], Submitted)
    assert Queued(status="pending") in events
    assert Progress(None, "in_progress") in events
    done = events[-1]
    assert isinstance(done, Completed) and done.url is not None
    assert done.url.startswith(fake.url + "/files/") and "signature=" in done.url
    body = submits(fake)[0]["json"]
    assert body["model"] == "google/veo-3.1" and body["duration"] == 8
    assert body["aspect_ratio"] == "9:16" and body["resolution"] == "720p"
    frame = body["frame_images"][0]
    assert frame["type"] == "image_url" and frame["frame_type"] == "first_frame"
    assert frame["image_url"]["url"].startswith("data:image/png;base64,")
    assert "callback_url" not in body
    assert submits(fake)[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


async def test_content_endpoint_when_there_are_no_signed_urls(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeProvider("openrouter", scenario(no_signed_urls=True)) as fake:
        events = await collect(provider_for(session, fake).generate(request()))
    done = events[-1]
    assert isinstance(done, Completed) and done.file is not None and done.url is None
    try:
        assert done.file.read_bytes() == SAMPLE_VIDEO.read_bytes()
    finally:
        done.file.unlink()
    fetch = [r for r in fake.recorder.requests if r["path"].endswith("/content")]
    assert len(fetch) == 1 and fetch[0]["query"] == {"index": "0"}
    assert fetch[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


async def test_failed_job_gives_the_typed_reason(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario(fail_at=50)) as fake:
        policy = failure(await collect(provider_for(session, fake).generate(request())))
        fake.scenario.fail_reason = "The upstream provider timed out"
        plain = failure(await collect(provider_for(session, fake).generate(request())))
    assert isinstance(policy, ContentRejected) and "content policies" in policy.user_message
    assert isinstance(plain, GenerationFailed) and "timed out" in plain.user_message


@pytest.mark.parametrize(
    ("end", "error_type"), [("cancelled", JobCancelled), ("expired", JobExpired)]
)
async def test_cancelled_and_expired_end_the_job(
    session: aiohttp.ClientSession, end: str, error_type: type[Exception]
) -> None:
    async with FakeProvider("openrouter", scenario(openrouter_end=end)) as fake:
        events = await collect(provider_for(session, fake).generate(request()))
    error = failure(events)
    assert type(error) is error_type
    assert error.user_message and API_KEY not in error.user_message


async def test_unsupported_duration_is_a_clear_refusal(session: aiohttp.ClientSession) -> None:
    # Before the catalogue is read, the fallback's 8 s passes the bot's own checks,
    # but this model only makes 5 or 10 s clips: OpenRouter answers 400.
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, model="acme/widescreen")
        spec, duration = provider.capabilities.validate(
            model=None, duration=None, orientation="landscape"
        )
        events = await collect(
            provider.generate(
                request(model=spec.name, duration=duration, orientation="landscape", image=None)
            )
        )
    error = failure(events)
    assert isinstance(error, BadRequest) and error.status == 400
    assert "Unsupported duration 8" in error.user_message
    assert "supported: 5, 10" in error.user_message
    assert fake.recorder.submissions == 0 and not any(isinstance(e, Submitted) for e in events)


async def test_wrong_key_is_misconfiguration(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, api_key="sk-or-wrong-key-9876543210")
        with caplog.at_level(logging.DEBUG):
            error = failure(await collect(provider.generate(request())))
    assert isinstance(error, ProviderAuthError) and "misconfigured" in error.user_message
    assert "sk-or-wrong-key-9876543210" not in caplog.text + str(error)


async def test_resume_from_the_job_id(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario(steps=4, step_delay=0.05)) as fake:
        first = provider_for(session, fake)
        stream = first.generate(request())
        submitted = await anext(stream)
        await stream.aclose()  # the bot stops here, as in a restart
        assert isinstance(submitted, Submitted)
        again = provider_for(session, fake)  # a new process: nothing in memory
        events = await collect(again.resume(submitted.task_id))
    assert isinstance(events[-1], Completed)
    assert fake.recorder.submissions == 1
    assert len(submits(fake)) == 1


async def test_base_url_with_api_suffix(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, base_url=fake.url + "/api")
        await provider.load_catalogue()
        events = await collect(provider.generate(request()))
    assert isinstance(events[-1], Completed)


# ---------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("orientation", "hd", "size", "resolution"),
    [
        ("portrait", False, (720, 1280), "720p"),
        ("landscape", False, (1280, 720), "720p"),
        ("portrait", True, (1080, 1920), "1080p"),
    ],
)
async def test_the_photo_is_fitted_to_the_chosen_ratio(
    session: aiohttp.ClientSession,
    orientation: Any,
    hd: bool,
    size: tuple[int, int],
    resolution: str,
) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake)
        caps = await provider.load_catalogue()
        spec, duration = caps.validate(model=None, duration=4, orientation=orientation, hd=hd)
        # As bot/jobs/run.py does: the provider receives a PreparedImage.
        image = await prepare_image_async(photo(), spec.size(orientation, hd), fit="cover")
        events = await collect(
            provider.generate(
                request(image=image, duration=duration, orientation=orientation, hd=hd)
            )
        )
    assert isinstance(events[-1], Completed)
    entry = submits(fake)[0]
    assert entry["frame_size"] == size
    url = entry["json"]["frame_images"][0]["image_url"]["url"]
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == size
    assert entry["json"]["resolution"] == resolution
    assert entry["json"]["aspect_ratio"] == {"portrait": "9:16", "landscape": "16:9"}[orientation]


async def test_url_mode_passes_the_attachment_url(session: aiohttp.ClientSession) -> None:
    source = "https://cdn.discordapp.com/attachments/1/2/photo.jpg"
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake, image_mode="url")
        image = make_image(720, 1280, source_url=source)
        events = await collect(provider.generate(request(image=image)))
    assert isinstance(events[-1], Completed)
    assert submits(fake)[0]["json"]["frame_images"][0]["image_url"]["url"] == source


# ---------------------------------------------------------------- push


async def test_https_callback_completes_the_job(session: aiohttp.ClientSession) -> None:
    hooks = HookRegistry("https://bot.example.test")
    server = HookServer(hooks, "127.0.0.1", 0)
    await server.start()
    try:
        # The fake delivers to the hook listener, as the bot's reverse proxy would.
        knobs = scenario(
            steps=3, step_delay=0.02, callback_origin=f"http://127.0.0.1:{server.port}"
        )
        async with FakeProvider("openrouter", knobs) as fake:
            # Polls are so slow that only the callback can end the job in time.
            provider = provider_for(
                session, fake, poll_interval=60, poll_max_interval=60, job_timeout=30
            )
            provider.use_hooks(hooks)
            events: list[Event] = await collect(provider.generate(request()))
    finally:
        await server.close()
    assert isinstance(events[-1], Completed)
    callback = submits(fake)[0]["json"]["callback_url"]
    assert callback.startswith("https://bot.example.test/hooks/")
    assert hooks.accepted == 1 and hooks.active == 0


async def test_no_callback_without_https(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeProvider("openrouter", scenario()) as fake:
        provider = provider_for(session, fake)
        provider.use_hooks(HookRegistry("http://bot.example.test"))
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                assert isinstance((await collect(provider.generate(request())))[-1], Completed)
    assert all("callback_url" not in entry["json"] for entry in submits(fake))
    notes = [r for r in caplog.records if "not https" in r.getMessage()]
    assert len(notes) == 1


# ---------------------------------------------------------------- settings


def test_openrouter_defaults_and_overrides() -> None:
    base = {
        "PROVIDER_PROTOCOL": "openrouter",
        "PROVIDER_BASE_URL": "https://openrouter.ai/api/v1",
        "PROVIDER_API_KEY": API_KEY,
    }
    settings = ProviderSettings.from_env(base)
    assert settings.model == "google/veo-3.1"
    assert (settings.poll_interval, settings.poll_max_interval) == (10.0, 30.0)
    assert settings.base_url == "https://openrouter.ai/api"
    chosen = ProviderSettings.from_env(
        {**base, "PROVIDER_POLL_INTERVAL": "3", "PROVIDER_MODEL": "alibaba/wan-2.6"}
    )
    assert (chosen.model, chosen.poll_interval) == ("alibaba/wan-2.6", 3.0)
    videos = ProviderSettings.from_env({**base, "PROVIDER_PROTOCOL": "videos"})
    assert (videos.model, videos.poll_interval, videos.poll_max_interval) == ("sora-2", 2.0, 8.0)
