"""The generations client's failure paths: HTTP errors, job failures, odd answers, secrets."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import pytest

from bot.fake_provider.app import FakeProvider
from bot.providers.base import (
    Completed,
    Event,
    Progress,
    VideoRequest,
)
from bot.providers.errors import (
    BadRequest,
    ContentRejected,
    GenerationFailed,
    JobCancelled,
    ProviderAuthError,
    ProviderError,
    ProviderOutOfCredit,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedOption,
)
from bot.providers.generations import GenerationsProvider
from tests.support.providers import (
    API_KEY,
    collect,
    failure,
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


async def test_wrong_key_is_not_retried(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario()) as fake:
        events = await run(session, fake, api_key="sk-wrong-key-123456")
    error = failure(events)
    assert isinstance(error, ProviderAuthError)
    assert "Invalid signature" in str(error)
    assert len(fake.recorder.requests) == 1


async def test_auth_schemes(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(auth_scheme="raw")) as fake:
        raw = await run(session, fake, auth_scheme="raw")
        bearer = await run(session, fake, auth_scheme="bearer")
    assert isinstance(raw[-1], Completed)
    assert fake.recorder.requests[0]["headers"]["Authorization"] == API_KEY
    assert isinstance(failure(bearer), ProviderAuthError)


async def test_insufficient_balance(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(insufficient_balance=True)) as fake:
        events = await run(session, fake)
    assert isinstance(failure(events), ProviderOutOfCredit)
    assert len(fake.recorder.requests) == 1 and fake.recorder.submissions == 0


async def test_429_then_success_honours_retry_after(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(submit_errors=[429], retry_after=0.2)) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)
    posts = [r["time"] for r in fake.recorder.requests if r["method"] == "POST"]
    assert len(posts) == 2
    assert posts[1] - posts[0] >= 0.18  # the backoff alone would be 0.01 s
    assert fake.recorder.submissions == 1


async def test_500_then_success(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(submit_errors=[500])) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)
    assert fake.recorder.count("POST", PATH) == 2 and fake.recorder.submissions == 1


async def test_500_forever_is_bounded(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(error_forever=500)) as fake:
        events = await run(session, fake, max_retries=2)
    assert events == [events[-1]]
    assert isinstance(failure(events), ProviderUnavailable)
    assert len(fake.recorder.requests) == 3


async def test_transient_poll_errors_keep_polling(session: aiohttp.ClientSession) -> None:
    faults = scenario(poll_errors=[503, 503, 500, 429, 503])
    async with FakeProvider("generations", faults) as fake:
        events = await run(session, fake, max_retries=1)
    assert isinstance(events[-1], Completed)
    assert faults.poll_errors == []


@pytest.mark.parametrize(("status", "kind"), [(403, ProviderOutOfCredit), (401, ProviderAuthError)])
async def test_auth_errors_while_polling_end_the_job(
    session: aiohttp.ClientSession, status: int, kind: type[Exception]
) -> None:
    async with FakeProvider("generations", scenario(poll_errors=[status])) as fake:
        events = await run(session, fake)
    assert isinstance(failure(events), kind)
    assert fake.recorder.count("GET", PATH) == 1


async def test_policy_failure_late_in_the_job(session: aiohttp.ClientSession) -> None:
    reason = "This content may violate our content policies."
    async with FakeProvider("generations", scenario(fail_at=95, fail_reason=reason)) as fake:
        events = await run(session, fake)
    error = failure(events)
    assert isinstance(error, ContentRejected)
    assert error.reason == reason
    assert reason in error.user_message
    assert all(e.percent is None or e.percent < 95 for e in events if isinstance(e, Progress))


async def test_plain_failure_is_generation_failed(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(fail_at=50, fail_reason="GPU melted")) as fake:
        events = await run(session, fake)
    error = failure(events)
    assert isinstance(error, GenerationFailed) and error.reason == "GPU melted"


async def test_malformed_json_once_is_tolerated(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario(malformed_json=True)) as fake:
        events = await run(session, fake)
    assert isinstance(events[-1], Completed)


async def test_three_malformed_answers_in_a_row_fail(session: aiohttp.ClientSession) -> None:
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, ['{"status": "IN_PROG']))
    async with fake:
        events = await run(session, fake)
    assert isinstance(failure(events), ProviderProtocolError)
    assert fake.recorder.count("GET", PATH) == 3


async def test_unknown_status_is_tolerated_and_logged_once(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    weird = {"status": "WARMING_UP", "progress": "5%"}
    done = {"status": "SUCCESS", "data": {"output": "https://cdn.example/x.mp4"}}
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, [weird, weird, weird, done]))
    caplog.set_level(logging.WARNING, logger="bot.providers")
    async with fake:
        events = await run(session, fake)
    assert events[-1] == Completed(url="https://cdn.example/x.mp4")
    assert Progress(5, "generating") in events
    assert sum("WARMING_UP" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("answers", "kind"),
    [
        ([{"status": "SUCCESS", "progress": "100%", "data": None}], ProviderProtocolError),
        ([{"status": "cancelled"}], JobCancelled),
        (
            [{"status": "FAILURE", "fail_reason": "", "message": "no credits left"}],
            GenerationFailed,
        ),
    ],
)
async def test_scripted_endings(
    session: aiohttp.ClientSession, answers: list[dict[str, Any]], kind: type[Exception]
) -> None:
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(scripted_polls(PATH, answers))
    async with fake:
        events = await run(session, fake)
    error = failure(events)
    assert isinstance(error, kind)
    if answers[0].get("message"):
        assert error.reason == "no credits left"


async def test_submit_answer_without_task_id(session: aiohttp.ClientSession) -> None:
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(rewrite_submit(PATH, lambda b: {"message": "ok"}))
    async with fake:
        events = await run(session, fake)
    assert events == [events[-1]]
    assert isinstance(failure(events), ProviderProtocolError)


async def test_never_finish_times_out(session: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    async with FakeProvider("generations", scenario(never_finish=True)) as fake:
        events = await run(session, fake, job_timeout=0.3)
    assert isinstance(failure(events), ProviderTimeout)
    assert time.monotonic() - started < 3
    assert any(isinstance(e, Progress) for e in events)


async def test_wrong_image_size_is_a_bad_request(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario()) as fake:
        events = await run(session, fake, request(image=make_image(1280, 720)))
    error = failure(events)
    assert isinstance(error, BadRequest)
    assert error.reason == "Inpaint image must match the requested width and height"
    assert error.status == 400 and len(fake.recorder.requests) == 1


async def test_unconfigured_model_fails_before_any_request(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("generations", scenario()) as fake:
        events = await run(session, fake, request(model="veo-3"))
    assert isinstance(failure(events), UnsupportedOption)
    assert fake.recorder.requests == []


async def test_api_key_never_in_errors_or_logs(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
    async with FakeProvider("generations", scenario(error_forever=503)) as fake:
        errors.append(failure(await run(session, fake)))
    async with FakeProvider("generations", scenario(api_key="sk-other-key-999999")) as fake:
        errors.append(failure(await run(session, fake, api_key=API_KEY)))
    async with FakeProvider(
        "generations", scenario(fail_at=10, fail_reason=f"key {API_KEY}")
    ) as fake:
        errors.append(failure(await run(session, fake)))
    fake = FakeProvider("generations", scenario())
    fake.app.middlewares.append(rewrite_submit(PATH, lambda b: {"echo": f"Bearer {API_KEY}"}))
    async with fake:
        errors.append(failure(await run(session, fake)))
    assert isinstance(errors[-1], ProviderProtocolError)
    for error in errors:
        assert API_KEY not in str(error) and API_KEY not in error.user_message
    assert caplog.records and API_KEY not in caplog.text
