"""Result links the bot refuses to fetch, and videos Discord cannot take: never charged.

The provider answers with a link to an "internal endpoint" (a second loopback
server on another port, so not the provider's trusted origin), with a link on its
own origin that redirects there, or with a body that is not a video. The
internal server never sees a request, the job fails with a clear reason and the
member's credit comes back. A video too large for Discord with no link is served
by the bot under ``PUBLIC_BASE_URL`` when it can, and refunded when it cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from bot.fake_provider import SAMPLE_VIDEO
from bot.fake_provider.scenario import Scenario
from bot.jobs import delivery
from tests.support.harness import KEY, App, photo_bytes, running_app
from tests.support.loopback import MP4_HEAD, Route, loopback_server

HEADROOM = 64 * 1024  # the messenger keeps this much of the upload limit for the JSON part


def scenario(**knobs: object) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 2, "step_delay": 0.02, **knobs})  # type: ignore[arg-type]


async def refunded(app: App, reason: str) -> None:
    """The one job failed with ``reason``, its credit came back, and nothing is left running."""
    job = app.jobs()[0]
    assert job["status"] == "failed", dict(job)
    assert job["error"] == reason
    assert await app.used() == 0
    quota = await app.quota()
    assert "used **0** of" in quota and "in progress" not in quota, quota
    await app.check_ledger()


@pytest.mark.parametrize("via", ["direct", "redirect"])
async def test_a_link_to_an_internal_address_is_never_fetched_and_refunded(
    tmp_path: Path, via: str
) -> None:
    async with loopback_server(secret=Route(MP4_HEAD, content_type="video/mp4")) as internal:
        target = f"{internal.url}/secret"
        knobs = {"result_url_override": target} if via == "direct" else {"files_redirect": target}
        async with running_app(tmp_path, "generations", scenario(**knobs)) as app:
            content = await app.finished(await app.video())
            assert "❌" in content and "private network address" in content, content
            assert "refunded" in content
            assert internal.requests == []  # not one byte asked of the internal endpoint
            if via == "redirect":  # the provider's own link was followed up to the redirect
                assert app.provider.recorder.count("GET", "/files/") == 1
            await refunded(app, delivery.INTERNAL)


async def test_a_body_that_is_not_a_video_is_refused_and_refunded(tmp_path: Path) -> None:
    page = b"<html><body>Sign in to continue</body></html>" * 10
    async with running_app(tmp_path, "generations", scenario(files_body=page)) as app:
        content = await app.finished(await app.video())
        assert "❌" in content and "did not lead to a video file" in content, content
        await refunded(app, delivery.NOT_VIDEO)


async def too_big_for_discord(app: App) -> str:
    """A `/video` whose upload limit is smaller than the sample video; its final content."""
    options = {"image": app.discord.upload(photo_bytes(), "photo.jpg"), "prompt": "a kite"}
    limit = HEADROOM + SAMPLE_VIDEO.stat().st_size // 2
    ix = await app.discord.slash("video", options, attachment_size_limit=limit)
    return await app.finished(ix)


async def test_too_large_without_a_link_is_served_by_the_bot(tmp_path: Path) -> None:
    public = "https://bot.example.test"
    media = tmp_path / "media"
    async with running_app(
        tmp_path,
        "videos",  # no public link: the provider hands over the file from /content
        scenario(),
        public_base_url=public,
        hook_host="127.0.0.1",
        hook_port=0,
        media_dir=str(media),
        media_link_hours=2,
    ) as app:
        content = await too_big_for_discord(app)
        assert "✅" in content, content
        link = re.search(re.escape(public) + r"/media/([A-Za-z0-9_-]{43})\.mp4", content)
        assert link is not None, content
        assert "works for 2 hours" in content
        assert await app.used() == 1  # the member can get it: the credit is kept
        server = app.bot.jobs.hook_server
        assert server is not None
        local = f"http://127.0.0.1:{server.port}/media/"
        async with aiohttp.ClientSession() as client:
            async with client.get(local + link.group(1) + ".mp4") as resp:
                assert resp.status == 200 and resp.content_type == "video/mp4"
                assert await resp.read() == SAMPLE_VIDEO.read_bytes()
            async with client.get(local + "A" * 43 + ".mp4") as resp:
                assert resp.status == 404  # an unknown token serves nothing
        assert [p.name.endswith(link.group(1) + ".mp4") for p in media.iterdir()] == [True]
        await app.check_ledger()


async def test_too_large_without_a_link_or_public_url_is_refunded(tmp_path: Path) -> None:
    async with running_app(tmp_path, "videos", scenario()) as app:
        content = await too_big_for_discord(app)
        assert "❌" in content and "too large for Discord" in content, content
        await refunded(app, delivery.TOO_LARGE)


async def test_too_large_when_the_served_space_is_full_is_refunded(tmp_path: Path) -> None:
    async with running_app(
        tmp_path,
        "videos",
        scenario(),
        public_base_url="https://bot.example.test",
        hook_host="127.0.0.1",
        hook_port=0,
        media_dir=str(tmp_path / "media"),
        media_max_bytes=SAMPLE_VIDEO.stat().st_size - 1,
    ) as app:
        content = await too_big_for_discord(app)
        assert "❌" in content and "no room left" in content, content
        assert list((tmp_path / "media").iterdir()) == []
        await refunded(app, delivery.NO_ROOM)
