"""`/video` and `/quota` end to end: real bot, fake Discord, fake providers, real SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, percents, photo_bytes, running_app


@pytest.mark.parametrize("protocol", ["chat", "generations", "videos"])
async def test_video_end_to_end(protocol: str, tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=5, step_delay=0.08, sora_video_url=True)
    async with running_app(tmp_path, protocol, scenario) as app:
        ix = await app.video(prompt="@everyone a fox runs")
        await app.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None
        assert ix.deferred and not ix.ephemeral
        assert ix.callback.at - ix.dispatched_at < 3
        content = await app.finished(ix)

        assert "✅" in content
        assert "a fox runs" in content
        assert app.provider.url + "/files/" in content  # the link, always
        assert ix.original is not None
        files = ix.original.attachments
        assert len(files) == 1 and files[0].filename.endswith(".mp4")
        assert files[0].data[4:8] == b"ftyp"
        assert not ix.original.mention_everyone
        shown = percents(ix)
        assert len(shown) >= 2, [e.content for e in ix.edits]
        assert shown == sorted(shown) and shown[0] < shown[-1]
        assert app.provider.recorder.submissions == 1
        assert "1** of **3" in await app.quota()


async def test_video_without_public_link_is_uploaded(tmp_path: Path) -> None:
    async with running_app(tmp_path, "videos") as app:
        ix = await app.video(orientation="landscape", duration=8)
        content = await app.finished(ix)
        assert "✅" in content and "🔗" not in content
        assert ix.original is not None and len(ix.original.attachments) == 1
        form = next(r for r in app.provider.recorder.requests if r["method"] == "POST")["form"]
        assert (form["size"], form["seconds"]) == ("1280x720", "8")


async def test_non_image_attachment_refused_for_free(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        notes = app.discord.upload(b"just some text\n", "notes.txt", "text/plain")
        ix = await app.video(image=notes)
        await app.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None and ix.callback.ephemeral
        assert "not an image" in ix.callback.data["content"]
        assert app.provider.recorder.submissions == 0
        assert "0** of **3" in await app.quota()


async def test_lying_content_type_fails_after_defer_and_refunds(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        fake_png = app.discord.upload(
            b"<html>nope</html>", "cat.png", "image/png", width=10, height=10
        )
        ix = await app.video(image=fake_png)
        content = await app.finished(ix)
        assert "❌" in content and "not an image" in content
        assert "refunded" in content
        assert app.provider.recorder.submissions == 0
        assert "0** of **3" in await app.quota()


async def test_quota_exhausted_never_reaches_provider(tmp_path: Path) -> None:
    async with running_app(tmp_path, quota_per_day=1) as app:
        first = await app.video()
        await app.finished(first)
        second = await app.video()
        await app.discord.wait_for(lambda: second.callback is not None)
        assert second.callback is not None and second.callback.ephemeral
        assert "used all 1" in second.callback.data["content"]
        assert app.provider.recorder.submissions == 1
        assert "1** of **1" in await app.quota()


async def test_provider_failure_refunds_with_reason(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.03, fail_at=90)
    async with running_app(tmp_path, "generations", scenario) as app:
        ix = await app.video()
        content = await app.finished(ix)
        assert "❌" in content and "content policies" in content and "refunded" in content
        assert "0** of **3" in await app.quota()


async def test_bad_key_says_misconfigured_without_details(tmp_path: Path) -> None:
    scenario = Scenario(api_key="another-key", steps=2, step_delay=0.01)
    async with running_app(tmp_path, "videos", scenario) as app:
        ix = await app.video()
        content = await app.finished(ix)
        assert "misconfigured" in content and "Invalid signature" not in content
        assert KEY not in content
        assert "0** of **3" in await app.quota()


async def test_unsupported_option_refused_before_anything(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations") as app:
        ix = await app.video(model="sora-2", duration=25)
        await app.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None and ix.callback.ephemeral
        assert "cannot make 25s" in ix.callback.data["content"]
        hd = await app.video(model="sora-2", hd=True)
        await app.discord.wait_for(lambda: hd.callback is not None)
        assert hd.callback is not None and "HD is not available" in hd.callback.data["content"]
        assert app.provider.recorder.submissions == 0


async def test_concurrent_requests_never_exceed_quota(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=2, step_delay=0.02)
    async with running_app(
        tmp_path, "videos", scenario, quota_per_day=2, max_jobs_per_user=10
    ) as app:
        image = app.discord.upload(photo_bytes((900, 900), "PNG"), "sq.png")
        many = await asyncio.gather(*(app.video(image=image) for _ in range(8)))
        await app.discord.wait_for(lambda: all(ix.callback is not None for ix in many))
        accepted = [ix for ix in many if ix.deferred]
        refused = [ix for ix in many if not ix.deferred]
        assert len(accepted) == 2 and len(refused) == 6
        assert all(ix.ephemeral for ix in refused)
        for ix in accepted:
            assert "✅" in await app.finished(ix)
        assert app.provider.recorder.submissions == 2
        assert "2** of **2" in await app.quota()


async def test_queue_shows_position_and_runs_in_order(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=3, step_delay=0.1)
    async with running_app(tmp_path, "generations", scenario, max_concurrent_jobs=1) as app:
        other = app.discord.add_user("other")
        first = await app.video()
        await app.discord.wait_for(lambda: app.provider.recorder.submissions == 1)
        second = await app.video(user=other)
        await app.discord.wait_for(
            lambda: any("position 1 in queue" in e.content for e in second.edits)
        )
        assert app.provider.recorder.submissions == 1  # it waited for the slot
        assert "✅" in await app.finished(first)
        assert "✅" in await app.finished(second)
        assert app.provider.recorder.submissions == 2


async def test_too_large_for_upload_falls_back_to_link(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations") as app:
        app.discord.guilds[0].upload_limit = 1024  # smaller than the sample video
        ix = await app.video()
        content = await app.finished(ix)
        assert ix.original is not None and ix.original.attachments == []
        assert app.provider.url + "/files/" in content and "too large to upload" in content
