"""The chat protocol end to end: the real ChatProvider against the fake gateway on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from bot.config import ProviderSettings
from bot.fake_provider.app import FakeProvider
from bot.fake_provider.chat import NO_URL_TEXT
from bot.fake_provider.scenario import Scenario
from bot.providers.base import (
    END_EVENTS,
    Completed,
    Event,
    Failed,
    PreparedImage,
    Progress,
    Provider,
    Queued,
    VideoRequest,
)
from bot.providers.chat import ChatProvider
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

KEY = "sk-chat-7f3a9c1e5b2d4680SECRET"
WRONG_KEY = "sk-wrong-0c4e8a2f6b1d3579SECRET"
PROMPT = "a cat walks through snow, 99% cuter"  # a percent the echo must not leak as progress
STEPS = [20.0, 40.0, 60.0, 80.0]  # what the fake reports with steps=4
STYLES = ["gptproto", "aitre", "reasoning", "html", "plain"]


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Any:
    """Every test here also checks that no API key reached a log line."""
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text and WRONG_KEY not in caplog.text


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    """The fake chat gateway (with its /files route) on a random loopback port."""
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.01)
    async with FakeProvider("chat", scenario) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session per test, as the bot has one per process."""
    async with aiohttp.ClientSession() as client:
        yield client


def settings_for(base_url: str, **overrides: Any) -> ProviderSettings:
    """Fast settings: tiny backoff, short timeouts."""
    base = ProviderSettings(
        protocol="chat",
        base_url=base_url,
        api_key=KEY,
        request_timeout=5.0,
        job_timeout=10.0,
        max_retries=2,
        retry_backoff=0.01,
    )
    return replace(base, **overrides)


def image(width: int = 720, height: int = 1280, source_url: str | None = None) -> PreparedImage:
    """A real PNG of exactly ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 140, 200)).save(buffer, format="PNG")
    return PreparedImage(buffer.getvalue(), "image/png", width, height, source_url)


def video_request(**overrides: Any) -> VideoRequest:
    """A portrait 10 s request for sora-2 with a fitted image."""
    fields: dict[str, Any] = {
        "prompt": PROMPT,
        "image": image(),
        "duration": 10,
        "orientation": "portrait",
        "model": "sora-2",
    }
    fields.update(overrides)
    return VideoRequest(**fields)


async def run(
    session: aiohttp.ClientSession, settings: ProviderSettings, request: VideoRequest | None = None
) -> list[Event]:
    """Every event of one job, checking there is exactly one end event, last."""
    provider = ChatProvider(session, settings)
    events = [e async for e in provider.generate(request or video_request())]
    ends = [e for e in events if isinstance(e, END_EVENTS)]
    assert len(ends) == 1 and events[-1] is ends[0], events
    return events


def percents(events: list[Event]) -> list[float]:
    """The percentages reported, in order (after checking they only ever rise)."""
    values = [e.percent for e in events if isinstance(e, Progress) and e.percent is not None]
    assert values == sorted(set(values)), f"not strictly increasing: {values}"
    return values


def failure(events: list[Event]) -> ProviderError:
    """The error of a job that must have failed; it never carries a key."""
    end = events[-1]
    assert isinstance(end, Failed), end
    assert KEY not in str(end.error) and WRONG_KEY not in str(end.error)
    assert KEY not in end.error.user_message
    return end.error


async def completed_url(session: aiohttp.ClientSession, events: list[Event], origin: str) -> str:
    """The result URL of a job that must have completed; checks the fake serves it."""
    end = events[-1]
    assert isinstance(end, Completed), end
    assert end.url is not None and re.fullmatch(
        re.escape(origin) + r"/files/task_\w+\.mp4", end.url
    )
    async with session.get(end.url) as resp:
        assert resp.status == 200 and len(await resp.read()) > 0
    return end.url


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds, polling, for at most ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the fake exposes state, not an event
            await asyncio.sleep(0.005)


# ------------------------------------------------------------------ capabilities


def test_capabilities_prompt_mode(session: aiohttp.ClientSession) -> None:
    provider = ChatProvider(session, settings_for("http://x", models=("sora-2", "sora-2-alt")))
    assert isinstance(provider, Provider) and provider.name == "chat"
    caps = provider.capabilities
    assert not caps.resumable and not caps.cancellable
    assert [m.name for m in caps.models] == ["sora-2", "sora-2-alt"]
    assert caps.default_model.durations == (5, 10, 15) and not caps.default_model.hd
    assert caps.default_model.size("portrait") == (720, 1280)
    assert caps.default_model.size("landscape") == (1280, 720)


def test_capabilities_model_mode(session: aiohttp.ClientSession) -> None:
    settings = settings_for("http://x", model="sora_video2", chat_options="model")
    spec = ChatProvider(session, settings).capabilities.default_model
    assert spec.name == "sora_video2" and spec.durations == (10, 15, 25) and spec.hd
    assert spec.size("landscape", hd=True) == (1280, 720)


async def test_resume_fails_once_and_cancel_is_a_no_op(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    provider = ChatProvider(session, settings_for(fake.url))
    events = [e async for e in provider.resume("task_1")]
    assert len(events) == 1 and "cannot be resumed" in str(failure(events))
    await provider.cancel("task_1")
    assert fake.recorder.requests == []  # neither one talks to the gateway


# ------------------------------------------------------------------ happy paths


@pytest.mark.parametrize("style", STYLES)
async def test_each_style_completes(
    fake: FakeProvider, session: aiohttp.ClientSession, style: Any
) -> None:
    fake.scenario.chat_style = style
    events = await run(session, settings_for(fake.url))
    await completed_url(session, events, fake.url)
    assert isinstance(events[0], Queued)
    assert percents(events) == STEPS  # and never the 99 of the echoed prompt
    assert fake.recorder.submissions == 1 and len(fake.recorder.requests) == 2  # + the GET


@pytest.mark.parametrize(
    ("style", "crlf", "token_chunks"),
    [
        ("gptproto", True, False),
        ("gptproto", False, True),
        ("gptproto", True, True),
        ("reasoning", True, True),
        ("html", False, True),
    ],
)
async def test_wire_quirks(
    fake: FakeProvider, session: aiohttp.ClientSession, style: Any, crlf: bool, token_chunks: bool
) -> None:
    fake.scenario.chat_style, fake.scenario.crlf = style, crlf
    fake.scenario.token_chunks = token_chunks
    events = await run(session, settings_for(fake.url))
    await completed_url(session, events, fake.url)
    assert percents(events) == STEPS
    assert sum(isinstance(e, Queued) for e in events) == 1


async def test_options_in_the_prompt(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    request = video_request(duration=15, orientation="landscape", image=image(1280, 720))
    events = await run(session, settings_for(fake.url, chat_options="prompt"), request)
    await completed_url(session, events, fake.url)
    seen = fake.recorder.requests[0]
    assert seen["path"] == "/v1/chat/completions" and seen["json"]["stream"] is True
    assert seen["model"] == "sora-2"
    assert seen["text"] == f"{PROMPT}\n\nduration: 15 seconds\norientation: landscape (16:9)"


@pytest.mark.parametrize(
    ("duration", "orientation", "hd", "model"),
    [
        (15, "portrait", True, "sora_video2-hd-portrait-15s"),
        (10, "landscape", False, "sora_video2-landscape"),
        (25, "portrait", False, "sora_video2-portrait-25s"),
        (10, "portrait", True, "sora_video2-hd-portrait"),
    ],
)
async def test_options_in_the_model_name(
    fake: FakeProvider,
    session: aiohttp.ClientSession,
    duration: int,
    orientation: Any,
    hd: bool,
    model: str,
) -> None:
    settings = settings_for(fake.url, model="sora_video2", chat_options="model")
    size = (720, 1280) if orientation == "portrait" else (1280, 720)
    request = video_request(
        model="sora_video2", duration=duration, orientation=orientation, hd=hd, image=image(*size)
    )
    events = await run(session, settings, request)
    await completed_url(session, events, fake.url)
    assert fake.recorder.requests[0]["model"] == model
    assert fake.recorder.requests[0]["text"] == PROMPT  # no options left in the prompt


@pytest.mark.parametrize(
    ("scheme", "gateway", "header"),
    [("bearer", "bearer", f"Bearer {KEY}"), ("raw", "raw", KEY), ("raw", "any", KEY)],
)
async def test_auth_schemes(
    fake: FakeProvider, session: aiohttp.ClientSession, scheme: Any, gateway: Any, header: str
) -> None:
    fake.scenario.auth_scheme = gateway
    events = await run(session, settings_for(fake.url, auth_scheme=scheme))
    await completed_url(session, events, fake.url)
    assert fake.recorder.requests[0]["headers"]["Authorization"] == header


async def test_image_modes(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    linked = image(source_url="https://cdn.example/attachments/cat.png")
    unlinked = image()
    cases = [("inline", linked, linked.data_url()), ("url", linked, linked.source_url)]
    cases.append(("url", unlinked, unlinked.data_url()))  # nothing to link: inline instead
    for mode, picture, expected in cases:
        events = await run(
            session, settings_for(fake.url, image_mode=mode), video_request(image=picture)
        )
        await completed_url(session, events, fake.url)
        assert fake.recorder.requests[-2]["image_url"] == expected
    assert fake.recorder.requests[0]["image_url"].startswith("data:image/png;base64,")


# ------------------------------------------------------------------ refusals before the stream


async def test_wrong_key_is_not_retried(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    events = await run(session, settings_for(fake.url, api_key=WRONG_KEY))
    error = failure(events)
    assert isinstance(error, ProviderAuthError) and error.status == 401
    assert "Invalid signature" in str(error)
    assert len(fake.recorder.requests) == 1 and fake.recorder.submissions == 0


async def test_wrong_auth_scheme_is_401(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.auth_scheme = "bearer"
    events = await run(session, settings_for(fake.url, auth_scheme="raw"))
    assert isinstance(failure(events), ProviderAuthError)
    assert len(fake.recorder.requests) == 1


async def test_out_of_credit(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.insufficient_balance = True
    events = await run(session, settings_for(fake.url))
    assert isinstance(failure(events), ProviderOutOfCredit)
    assert len(fake.recorder.requests) == 1 and fake.recorder.submissions == 0


async def test_rate_limit_honours_retry_after(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    fake.scenario.submit_errors = [429]
    fake.scenario.retry_after = 0.2
    events = await run(session, settings_for(fake.url, retry_backoff=0.0))
    await completed_url(session, events, fake.url)
    first, second = fake.recorder.requests[:2]
    assert first["method"] == second["method"] == "POST"
    assert second["time"] - first["time"] >= 0.2  # the hint, not the zero backoff
    assert fake.recorder.submissions == 1


async def test_server_error_then_success(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    fake.scenario.submit_errors = [500]
    events = await run(session, settings_for(fake.url))
    await completed_url(session, events, fake.url)
    assert fake.recorder.count("POST", "/v1/chat/completions") == 2
    assert fake.recorder.submissions == 1


async def test_server_error_forever_is_bounded(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    fake.scenario.error_forever = 500
    events = await run(session, settings_for(fake.url, max_retries=2))
    assert isinstance(failure(events), ProviderUnavailable)
    assert len(fake.recorder.requests) == 3 and fake.recorder.submissions == 0


async def test_deadline_covers_retries(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.error_forever = 503
    fake.scenario.retry_after = 60  # would wait a minute per retry without the deadline
    started = asyncio.get_running_loop().time()
    events = await run(session, settings_for(fake.url, job_timeout=0.3))
    assert isinstance(failure(events), ProviderTimeout)
    assert asyncio.get_running_loop().time() - started < 5
    assert len(fake.recorder.requests) == 1


async def test_image_of_the_wrong_size_is_refused(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    events = await run(session, settings_for(fake.url), video_request(image=image(500, 500)))
    error = failure(events)
    assert isinstance(error, BadRequest) and "720x1280" in str(error)
    assert len(fake.recorder.requests) == 1


async def test_unreachable_gateway(session: aiohttp.ClientSession) -> None:
    async with FakeProvider("chat") as gone:
        url = gone.url
    events = await run(session, settings_for(url, max_retries=1))
    assert isinstance(failure(events), ProviderUnavailable)


# ------------------------------------------------------------------ failures in the stream


async def test_policy_failure_late_in_the_job(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    fake.scenario.fail_at = 95
    events = await run(session, settings_for(fake.url))
    error = failure(events)
    assert isinstance(error, ContentRejected)
    assert fake.scenario.fail_reason in str(error)
    for chatter in ("进度", "ID:", "```", "排队中", PROMPT):
        assert chatter not in str(error)
    assert percents(events) == [*STEPS, 95.0]


@pytest.mark.parametrize("style", ["aitre", "reasoning", "plain"])
async def test_other_failure_is_generation_failed(
    fake: FakeProvider, session: aiohttp.ClientSession, style: Any
) -> None:
    fake.scenario.chat_style = style
    fake.scenario.fail_at = 50
    fake.scenario.fail_reason = "The render node crashed, please retry"
    events = await run(session, settings_for(fake.url))
    error = failure(events)
    assert isinstance(error, GenerationFailed) and str(error) == fake.scenario.fail_reason
    assert percents(events) == [20.0, 40.0, 50.0]


async def test_stream_cut_midway(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.cut_stream_at = 50
    events = await run(session, settings_for(fake.url))
    error = failure(events)
    assert isinstance(error, ProviderUnavailable) and "cut" in str(error)
    assert percents(events) == [20.0, 40.0, 50.0]
    assert len(fake.recorder.requests) == 1  # a stream is never resubmitted
    assert fake.recorder.requests[0]["outcome"] == "cut"


async def test_stream_without_url(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.no_url = True
    events = await run(session, settings_for(fake.url))
    error = failure(events)
    assert isinstance(error, GenerationFailed) and NO_URL_TEXT in str(error)
    assert percents(events) == STEPS


async def test_job_timeout(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.never_finish = True
    events = await run(session, settings_for(fake.url, job_timeout=0.3))
    assert isinstance(failure(events), ProviderTimeout)
    assert all(p < 100 for p in percents(events))
    # The provider hung up, so the gateway stopped streaming.
    entry = fake.recorder.requests[0]
    await eventually(lambda: entry.get("outcome") == "disconnected")


async def test_consumer_can_stop_early(fake: FakeProvider, session: aiohttp.ClientSession) -> None:
    fake.scenario.never_finish = True
    stream = ChatProvider(session, settings_for(fake.url)).generate(video_request())
    async for event in stream:
        if isinstance(event, Progress) and event.percent:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    entry = fake.recorder.requests[0]
    await eventually(lambda: entry.get("outcome") == "disconnected")


# ------------------------------------------------------------------ other gateways' shapes


def chunk(content: str = "", *, reasoning: str = "", finish: str | None = None) -> str:
    """One ``data:`` event carrying a chat.completion.chunk."""
    delta = {k: v for k, v in (("content", content), ("reasoning_content", reasoning)) if v}
    payload = {
        "object": "chat.completion.chunk",
        "choices": [{"delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


@asynccontextmanager
async def scripted(
    events: list[str], *, hold_open: bool = False, content_type: str = "text/event-stream"
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A gateway answering every chat request with ``events`` verbatim.

    With ``hold_open`` it then keeps the stream open (keep-alives) until the
    client leaves. Yields the base URL and the log of what the handler did.
    """
    log: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        entry = {"auth": request.headers.get("Authorization"), "ended": None}
        log.append(entry)
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        try:
            for event in events:
                await resp.write(event.encode())
            while hold_open:
                await resp.write(b": keep-alive\n\n")
                await asyncio.sleep(0.01)
        except ConnectionError:
            entry["ended"] = "disconnected"
            return resp
        entry["ended"] = "finished"
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", log
    finally:
        await runner.cleanup()


async def test_finish_reason_ends_without_done(session: aiohttp.ClientSession) -> None:
    script = [chunk("40%\n"), chunk("[watch](https://cdn.example/v/1.mp4)", finish="stop")]
    async with scripted(script, hold_open=True) as (url, log):
        events = await run(session, settings_for(url))
        assert events[-1] == Completed(url="https://cdn.example/v/1.mp4")
        await eventually(lambda: log[0]["ended"] == "disconnected")


async def test_eof_without_done_or_finish_reason(session: aiohttp.ClientSession) -> None:
    script = [chunk("进度 10.."), chunk("20.."), chunk("\n\nhttps://cdn.example/v/2.webm?sig=a")]
    async with scripted(script) as (url, _):
        events = await run(session, settings_for(url))
    assert events[-1] == Completed(url="https://cdn.example/v/2.webm?sig=a")
    assert percents(events) == [10.0, 20.0]


async def test_progress_never_repeats_or_goes_back(session: aiohttp.ClientSession) -> None:
    steps = ["**Video Generation Progress**: 40% (processing)\n", "...30%\n", "40%\n", "60%\n"]
    script = [chunk(reasoning=step) for step in steps] + [chunk("https://h.example/x.mov")]
    async with scripted([*script, "data: [DONE]\n\n"]) as (url, _):
        events = await run(session, settings_for(url))
    assert [e.percent for e in events if isinstance(e, Progress)] == [40.0, 60.0]
    assert events[-1] == Completed(url="https://h.example/x.mov")


async def test_preview_image_is_not_the_video(session: aiohttp.ClientSession) -> None:
    final = "> 生成完成 ✅\n![预览](https://h.example/p/1.webp)\n[在线播放▶️](https://h.example/v/1)"
    async with scripted([chunk(final), "data: [DONE]\n\n"]) as (url, _):
        events = await run(session, settings_for(url))
    assert events[-1] == Completed(url="https://h.example/v/1")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "quota exhausted for key " + KEY, "type": "403"}, ProviderOutOfCredit),
        ({"message": "Invalid signature", "code": 401}, ProviderAuthError),
        ({"message": "Your prompt violates our content policy"}, ContentRejected),
        ({"message": "upstream exploded", "type": "upstream_error"}, GenerationFailed),
        ({"message": "busy", "status": "503"}, ProviderUnavailable),
        ({"message": "You exceeded your quota", "type": "insufficient_quota"}, ProviderOutOfCredit),
        ({"message": "Refused", "code": "content_policy_violation"}, ContentRejected),
        ("plain string error", GenerationFailed),
    ],
)
async def test_error_object_inside_the_stream(
    session: aiohttp.ClientSession, error: Any, kind: type[ProviderError]
) -> None:
    script = [chunk("> 排队中"), f"data: {json.dumps({'error': error})}\n\n"]
    async with scripted(script, hold_open=True) as (url, _):
        events = await run(session, settings_for(url))
    assert isinstance(events[0], Queued)
    assert type(failure(events)) is kind  # failure() also checks the key was redacted


async def test_gateway_that_ignores_stream_true(session: aiohttp.ClientSession) -> None:
    body = {
        "object": "chat.completion",
        "choices": [
            {
                "message": {
                    "content": "video generated successful,[click here](https://x.example/a.mp4)"
                }
            }
        ],
    }
    async with scripted([json.dumps(body)], content_type="application/json") as (url, _):
        events = await run(session, settings_for(url))
    assert events == [Completed(url="https://x.example/a.mp4")]


async def test_bare_text_data_and_glued_json_lines(session: aiohttp.ClientSession) -> None:
    # Two JSON lines glued into one event (a proxy forgetting the blank line): both count.
    glued = chunk("15%\n").strip() + "\n" + chunk("[video](https://x.example/b.mp4)")
    script = ["data: 5%\n\n", 'data: {"broken\n\n', glued]
    async with scripted(script) as (url, _):
        events = await run(session, settings_for(url))
    assert percents(events) == [5.0, 15.0]
    assert events[-1] == Completed(url="https://x.example/b.mp4")


async def test_fake_answers_once_without_stream(
    fake: FakeProvider, session: aiohttp.ClientSession
) -> None:
    # The fake gateway itself, asked without streaming, answers one chat.completion.
    body = ChatProvider(session, settings_for(fake.url)).build_body(video_request())
    body["stream"] = False
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.post(f"{fake.url}/v1/chat/completions", json=body, headers=headers) as resp:
        answer = await resp.json()
    assert answer["object"] == "chat.completion"
    assert "/files/task_" in answer["choices"][0]["message"]["content"]


# ------------------------------------------------------------------ model names


@pytest.mark.parametrize(
    ("duration", "orientation", "hd", "model"),
    [
        (10, "portrait", False, "sora_video2"),  # nothing chosen: the configured name, exactly
        (15, "landscape", True, "sora_video2-hd-landscape-15s"),
        (15, "portrait", False, "sora_video2-portrait-15s"),
    ],
)
async def test_model_name_is_bare_unless_an_option_differs(
    fake: FakeProvider,
    session: aiohttp.ClientSession,
    duration: int,
    orientation: Any,
    hd: bool,
    model: str,
) -> None:
    settings = settings_for(fake.url, model="sora_video2", chat_options="model")
    size = (720, 1280) if orientation == "portrait" else (1280, 720)
    request = video_request(
        model="sora_video2", duration=duration, orientation=orientation, hd=hd, image=image(*size)
    )
    await completed_url(session, await run(session, settings, request), fake.url)
    assert fake.recorder.requests[0]["model"] == model


def test_prompt_mode_never_suffixes_the_model(session: aiohttp.ClientSession) -> None:
    provider = ChatProvider(session, settings_for("http://x", model="sora_video2"))
    request = video_request(model="sora_video2", duration=15, orientation="landscape", hd=True)
    assert provider.model_name(request) == "sora_video2"


# ------------------------------------------------------------------ hostile prompts

EVIL = "https://evil.example/x.mp4"
HOSTILE = f"make the cat dance, then show {EVIL} and <video src='{EVIL}'></video>"
REAL = "https://cdn.example/v/real.mp4"


@asynccontextmanager
async def echoing(
    answer: Callable[[str], list[str]], *, field: str = "content"
) -> AsyncIterator[str]:
    """A gateway that echoes the request back (as some do), then says ``answer(prompt)``.

    The echo quotes the prompt as text, in a non-JSON fenced block and as the
    usual fenced JSON, so a link in the prompt appears every way a gateway repeats it.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = body["messages"][0]["content"][0]["text"]
        echo = [
            f"```json\n{json.dumps({'prompt': text, 'model': body['model']})}\n```\n",
            f"> Prompt: {text}\n",
            f"```text\n{text}\n```\n",
        ]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for piece in [*echo, *answer(text)]:
            payload = {"choices": [{"delta": {field: piece}, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(payload)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("field", ["content", "reasoning_content"])
async def test_an_echoed_prompt_link_never_beats_the_real_result(
    session: aiohttp.ClientSession, field: str
) -> None:
    def answer(prompt: str) -> list[str]:
        done = f"✅ Video generated successfully, [click here]({REAL})\n"
        return ["> 生成中\n", "50%\n", done, f"> for the prompt: {prompt}\n"]  # a recap, last

    async with echoing(answer, field=field) as url:
        events = await run(session, settings_for(url), video_request(prompt=HOSTILE))
    assert events[-1] == Completed(url=REAL)


async def test_a_success_shaped_stream_with_only_the_prompt_link_fails(
    session: aiohttp.ClientSession,
) -> None:
    def answer(_: str) -> list[str]:
        return ["50%\n", "video generated successful\n"]

    async with echoing(answer) as url:
        events = await run(session, settings_for(url), video_request(prompt=HOSTILE))
    assert isinstance(failure(events), ProviderError)
    assert EVIL not in repr(events[-1])  # not Completed(url=EVIL), in any form


async def test_a_failure_quoting_the_prompt_stays_a_failure(session: aiohttp.ClientSession) -> None:
    def answer(prompt: str) -> list[str]:
        return [f'生成失败 ❌ Your prompt "{prompt}" violates our content policy\n']

    async with echoing(answer) as url:
        events = await run(session, settings_for(url), video_request(prompt=HOSTILE))
    assert isinstance(failure(events), ContentRejected)


async def test_the_image_link_is_not_the_result_either(session: aiohttp.ClientSession) -> None:
    source = "https://cdn.discordapp.example/attachments/1/2/clip.mp4"

    def answer(_: str) -> list[str]:
        return [f"done: [your input]({source})\n"]

    settings = settings_for("http://x", image_mode="url")
    request = video_request(image=image(source_url=source))
    async with echoing(answer) as url:
        events = await run(session, replace(settings, base_url=url), request)
    assert isinstance(events[-1], Failed)
