"""Provider faults, injected through the fake provider, end to end through the real bot.

Each test checks what the member is told, that the ledger stays exact (a credit
kept only for a delivered video, refunded exactly once otherwise), that no job
is left unfinished, and that another member is served afterwards. Leaving
``running_app`` also checks that no secret reached Discord or the logs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, App, running_app

BUSY = "The video service is busy or unreachable. Please try again later."
REFUNDED = "Your credit was refunded; nothing was charged."
TOO_LONG = "The video took too long to make and was abandoned."


def scenario(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 4, "step_delay": 0.05, **knobs})


async def failed_with(app: App, reason: str) -> str:
    """Run one `/video` for the default member; it must fail, refunded, saying ``reason``."""
    ix = await app.video()
    content = await app.finished(ix)
    assert "❌" in content and reason in content and REFUNDED in content, content
    assert await app.used() == 0
    return content


async def succeeds(app: App) -> str:
    ix = await app.video()
    content = await app.finished(ix)
    assert "✅" in content, content
    assert ix.original is not None and len(ix.original.attachments) == 1
    assert await app.used() == 1
    return content


def sent(app: App, method: str, path: str) -> list[dict[str, Any]]:
    requests = app.provider.recorder.requests
    return [r for r in requests if r["method"] == method and path in r["path"]]


async def test_rate_limited_with_retry_after_then_success(tmp_path: Path) -> None:
    faults = scenario(submit_errors=[429], poll_errors=[429, 429], retry_after=0.3)
    async with running_app(tmp_path, "generations", faults) as app:
        await succeeds(app)
        submits = sent(app, "POST", "/v2/videos/generations")
        assert len(submits) == 2 and app.provider.recorder.submissions == 1
        assert submits[1]["time"] - submits[0]["time"] >= 0.3  # Retry-After was honoured
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("protocol", ["chat", "generations", "videos"])
async def test_5xx_bursts_then_success(protocol: str, tmp_path: Path) -> None:
    faults = scenario(submit_errors=[500, 502], poll_errors=[503, 500, 502, 503, 500])
    async with running_app(tmp_path, protocol, faults) as app:
        await succeeds(app)
        assert app.provider.recorder.submissions == 1
        assert faults.submit_errors == []  # the whole burst was taken, and retried through
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_5xx_forever_fails_clearly(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", scenario(error_forever=503)) as app:
        await failed_with(app, BUSY)
        assert len(sent(app, "POST", "/v2/")) == 3  # bounded: max_retries=2, then give up
        assert app.provider.recorder.submissions == 0
        app.provider.scenario.error_forever = None
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_5xx_forever_while_polling_hits_the_overall_limit(tmp_path: Path) -> None:
    slow = scenario(steps=40, step_delay=0.05)
    async with running_app(tmp_path, "videos", slow, job_timeout=1.0) as app:
        ix = await app.video()
        await app.discord.wait_for(lambda: app.provider.recorder.submissions == 1)
        app.provider.scenario.error_forever = 502
        content = await app.finished(ix)
        assert "❌" in content and TOO_LONG in content and REFUNDED in content
        assert await app.used() == 0
        app.provider.scenario.error_forever = None
        app.provider.scenario.steps = 4
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_timed_out_polls_are_retried(tmp_path: Path) -> None:
    faults = scenario(poll_delays=[0.6, 0.6])
    async with running_app(tmp_path, "generations", faults, request_timeout=0.2) as app:
        await succeeds(app)
        assert faults.poll_delays == []
        assert any("TimeoutError" in m for m in app.logs.messages("bot.providers"))
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("protocol", ["generations", "videos"])
async def test_timed_out_submit_fails_without_resubmitting(protocol: str, tmp_path: Path) -> None:
    faults = scenario(submit_delays=[0.6])
    async with running_app(tmp_path, protocol, faults, request_timeout=0.2) as app:
        await failed_with(app, BUSY)
        # Never sent twice: the provider may have accepted it before the answer was lost.
        assert len(sent(app, "POST", "/v")) == 1
        await app.another_member_succeeds()
        await app.check_ledger()
        assert app.provider.recorder.submissions == 1  # only the second member's


async def test_stream_cut_mid_job_fails_and_refunds(tmp_path: Path) -> None:
    async with running_app(tmp_path, "chat", scenario(cut_stream_at=50)) as app:
        await failed_with(app, BUSY)
        assert app.provider.recorder.requests[0]["outcome"] == "cut"
        app.provider.scenario.cut_stream_at = None
        await app.another_member_succeeds()
        await app.check_ledger()
        assert app.provider.recorder.submissions == 2  # a chat stream is never resubmitted


@pytest.mark.parametrize("protocol", ["generations", "videos"])
async def test_connection_cut_mid_poll_recovers(protocol: str, tmp_path: Path) -> None:
    async with running_app(tmp_path, protocol, scenario(cut_poll_at=2)) as app:
        await succeeds(app)
        assert any("status poll failed" in m for m in app.logs.messages("bot.providers"))
        assert app.provider.recorder.submissions == 1
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_malformed_json_once_recovers_and_always_fails(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", scenario(malformed_polls=3)) as app:
        await failed_with(app, "The video service sent an answer the bot could not understand.")
        app.provider.scenario.malformed_polls = 1  # one stray bad answer is tolerated
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("protocol", ["generations", "videos"])
async def test_unknown_status_value_keeps_waiting(protocol: str, tmp_path: Path) -> None:
    faults = scenario(unknown_status="RENDERING_ON_GPU_7")
    async with running_app(tmp_path, protocol, faults) as app:
        await succeeds(app)
        warnings = [m for m in app.logs.messages("bot.providers") if "unknown status" in m]
        assert len(warnings) == 1 and "RENDERING_ON_GPU_7" in warnings[0]  # logged once
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_policy_failure_after_90_percent_refunds_once(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", scenario(steps=10, fail_at=90)) as app:
        ix = await app.video()
        await app.discord.wait_for(lambda: ix.original is not None and bool(ix.original.components))
        assert ix.original is not None
        stale = copy.copy(ix.original)  # a client that still shows the Cancel button
        content = await app.finished(ix)
        assert "refused this content" in content and "content policies" in content
        assert REFUNDED in content
        job = app.jobs()[0]
        # The failure reported a second time: a late Cancel click, then the service itself.
        click = await app.discord.click(stale, f"video:cancel:{job['id']}")
        assert "already finished" in await app.refusal(click)
        stored = await app.store.get_job(job["id"])
        assert stored is not None
        await app.bot.jobs.refund(stored, "reported again")
        assert app.ledger(job["id"]) == [("reserve", 1), ("refund", -1)]
        assert await app.used() == 0
        app.provider.scenario.fail_at = None
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("status", [404, 403])
async def test_expired_result_link_fails_clearly(status: int, tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", scenario(expired_files=status)) as app:
        await failed_with(app, "link had expired before the bot could fetch it.")
        assert len(sent(app, "GET", "/files/")) == 1  # an expired link is not retried
        app.provider.scenario.expired_files = None
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("protocol", ["chat", "generations", "videos"])
async def test_never_ending_job_hits_the_overall_limit(protocol: str, tmp_path: Path) -> None:
    faults = scenario(never_finish=True)
    async with running_app(tmp_path, protocol, faults, job_timeout=0.8) as app:
        await failed_with(app, TOO_LONG)
        app.provider.scenario.never_finish = False
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize("protocol", ["chat", "generations", "videos"])
async def test_secrets_never_reach_members_or_logs(protocol: str, tmp_path: Path) -> None:
    faults = scenario(fail_at=50, fail_reason=f"upstream refused key {KEY} (Bearer {KEY})")
    async with running_app(tmp_path, protocol, faults) as app:
        content = await failed_with(app, "upstream refused key")
        assert KEY not in content and app.discord.token not in content
        assert KEY in str(app.provider.recorder.requests[0]["headers"])  # it was really sent
        await app.check_ledger()
    # running_app has now scanned every request to Discord and every log record for both.
