"""`/history`: pages, links while valid, and buttons that still work after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.db import Store
from bot.jobs.history import PAGE_SIZE, link_valid, render_job
from tests.support.fake_discord import FakeMessage
from tests.support.harness import App, running_world

OPTIONS = {"model": "sora-2", "duration": 10, "orientation": "portrait", "hd": False}


async def add_jobs(store: Store, user_id: int, count: int, *, now: datetime) -> list[int]:
    """``count`` finished jobs, oldest first; the oldest completed two hours ago."""
    ids = []
    for n in range(count):
        at = now - timedelta(hours=2) + timedelta(minutes=n)
        job = await store.reserve(
            user_id=user_id, guild_id=1, channel_id=2, prompt=f"prompt number {n}",
            options=OPTIONS, image_url=None, protocol="videos", cost=1, daily_limit=100,
            max_running=100, now=at,
        )  # fmt: skip
        status = "failed" if n == 1 else "completed"
        await store.settle(job.id, status, result_url=f"https://cdn.example/v{n}.mp4", now=at)
        ids.append(job.id)
    return ids


def description(message: FakeMessage) -> str:
    assert message.embeds, message
    return str(message.embeds[0]["description"])


async def first_page(app: App) -> FakeMessage:
    ix = await app.discord.slash("history", {})
    await app.discord.wait_for(lambda: ix.callback is not None)
    assert ix.callback is not None and ix.callback.ephemeral and ix.original is not None
    return ix.original


async def test_history_pages_and_buttons_survive_a_restart(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        alice = world.discord.user
        async with world.bot() as app:
            now = datetime.now(UTC)
            ids = await add_jobs(app.store, alice.id, PAGE_SIZE + 2, now=now)
            recent = await app.store.reserve(
                user_id=alice.id, guild_id=1, channel_id=2, prompt="the newest one",
                options=OPTIONS, image_url=None, protocol="videos", cost=1, daily_limit=100,
                max_running=100,
            )  # fmt: skip
            await app.store.settle(recent.id, "completed", result_url="https://cdn.example/new")
            message = await first_page(app)
            text = description(message)
            assert f"**#{recent.id}**" in text and "the newest one" in text
            assert "[open the video](https://cdn.example/new)" in text
            assert f"**#{ids[3]}**" in text and f"**#{ids[2]}**" not in text
            assert "Videos 1-5" in text
            assert message.custom_ids() == [
                f"history:page:{alice.id}:0",
                f"history:page:{alice.id}:{PAGE_SIZE}",
            ]

        async with world.bot() as app:  # a new bot on the same database
            click = await world.discord.click(message, f"history:page:{alice.id}:{PAGE_SIZE}")
            await world.discord.wait_for(lambda: click.callback is not None)
            assert click.callback is not None and click.callback.type == 7
            text = description(message)
            assert f"**#{ids[1]}**" in text and f"**#{ids[0]}**" in text
            assert "❌ failed" in text and "Videos 6-8" in text
            assert "the link has expired" in text and "v0.mp4" not in text
            assert message.custom_ids() == [
                f"history:page:{alice.id}:0",
                f"history:page:{alice.id}:{2 * PAGE_SIZE}",
            ]

            stranger = world.discord.add_user("mallory")
            other = await world.discord.click(message, f"history:page:{alice.id}:0", user=stranger)
            await world.discord.wait_for(lambda: other.callback is not None)
            assert other.callback is not None and other.callback.ephemeral
            assert "another member's history" in other.callback.data["content"]
            assert "Videos 6-8" in description(message)  # unchanged

            back = await world.discord.click(message, f"history:page:{alice.id}:0")
            await world.discord.wait_for(lambda: back.callback is not None)
            assert "Videos 1-5" in description(message)


async def test_empty_history_has_no_buttons(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        message = await first_page(app)
        assert "not made any videos yet" in description(message)
        assert message.custom_ids() == []


async def test_link_validity_follows_the_setting(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite3") as store:
        now = datetime(2025, 3, 10, 12, tzinfo=UTC)
        [job_id] = await add_jobs(store, 1, 1, now=now)
        job = await store.get_job(job_id)
        assert job is not None
        assert not link_valid(job, 3600, now)  # finished 2 hours ago
        assert link_valid(job, 3 * 3600, now)
        assert "v0.mp4" in render_job(job, link_ttl=3 * 3600, now=now)
        assert "prompt number 0" in render_job(job, link_ttl=0, now=now)
