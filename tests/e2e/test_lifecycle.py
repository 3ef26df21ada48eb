"""Nothing lost: restarts, expiring interaction tokens, deleted messages, persistent buttons."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import SoraBot
from bot.db import Store
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.providers.factory import make_provider
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord.harness import running_bot
from tests.support.harness import KEY, App, bot_settings, photo_bytes


@dataclass
class World:
    """Fakes and the database that outlive one run of the bot."""

    discord: FakeDiscord
    provider: FakeProvider
    session: aiohttp.ClientSession
    store: Store
    db: Path
    overrides: dict[str, Any]

    @contextlib.asynccontextmanager
    async def bot(self) -> AsyncIterator[App]:
        """One run of the real bot; leaving the block closes it as SIGTERM would."""
        settings = bot_settings(self.discord, self.provider, self.db, **self.overrides)
        bot = SoraBot(
            settings=settings,
            session=self.session,
            store=self.store,
            provider=make_provider(self.session, settings.provider),
            guild_ready_timeout=0.1,
        )
        async with running_bot(bot, self.discord):
            yield App(self.discord, self.provider, bot, self.store)


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path, protocol: str, scenario: Scenario, **overrides: Any
) -> AsyncIterator[World]:
    db = tmp_path / "bot.sqlite3"
    async with (
        FakeProvider(protocol, scenario) as provider,
        FakeDiscord() as fake,
        aiohttp.ClientSession() as session,
        Store.open(db) as store,
    ):
        yield World(fake, provider, session, store, db, overrides)
        assert not fake.internal_errors


def slow(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 10, "step_delay": 0.1, **knobs})


async def test_restart_resumes_without_resubmitting(tmp_path: Path) -> None:
    async with world(tmp_path, "generations", slow()) as w:
        async with w.bot() as app:
            ix = await app.video()
            await w.discord.wait_for(lambda: w.provider.recorder.submissions == 1)
            await w.discord.wait_for(
                lambda: any("%" in e.content and "--%" not in e.content for e in ix.edits)
            )
        job = (await w.store.unfinished_jobs())[0]
        assert job.provider_task_id and job.status == "running"
        assert ix.content is not None and "restarting" in ix.content
        assert (await w.store.usage(job.user_id, 3)).used == 1  # still reserved, not refunded

        async with w.bot() as app:
            await w.discord.wait_for(
                lambda: ix.content is not None and "✅" in ix.content, timeout=20
            )
        assert w.provider.recorder.submissions == 1
        # The token stored with the job still lives: the new process edits through it.
        assert ix.original is not None and ix.original.history[-1].via == "webhook"
        assert len(ix.original.attachments) == 1
        final = await w.store.get_job(job.id)
        assert final is not None and final.status == "completed"
        assert (await w.store.usage(job.user_id, 3)).used == 1


async def test_chat_job_interrupted_by_restart_is_refunded_with_retry(tmp_path: Path) -> None:
    async with world(tmp_path, "chat", slow()) as w:
        async with w.bot() as app:
            ix = await app.video()
            await w.discord.wait_for(lambda: w.provider.recorder.submissions == 1)
        assert ix.content is not None and "❌" in ix.content and "cannot be resumed" in ix.content
        assert ix.original is not None
        assert ix.original.components[0]["components"][0]["custom_id"].startswith("video:retry:")
        assert await w.store.unfinished_jobs() == []
        assert (await w.store.usage(w.discord.user.id, 3)).used == 0

        async with w.bot() as app:  # the Retry button still works after the restart
            w.provider.scenario.steps, w.provider.scenario.step_delay = 2, 0.01
            button = ix.original.components[0]["components"][0]["custom_id"]
            click = await w.discord.click(ix.original, button)
            await app.finished(click)
            assert click.content is not None and "✅" in click.content
        assert w.provider.recorder.submissions == 2
        assert (await w.store.usage(w.discord.user.id, 3)).used == 1


async def test_expiring_token_moves_progress_to_the_bot_token(tmp_path: Path) -> None:
    async with world(tmp_path, "generations", slow()) as w, w.bot() as app:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14, seconds=10)
        image = w.discord.upload(photo_bytes(), "photo.jpg")
        ix = await w.discord.slash("video", {"image": image, "prompt": "rain"}, created_at=old)
        content = await app.finished(ix)
        assert "✅" in content
        assert ix.original is not None
        vias = [rev.via for rev in ix.original.history[1:]]
        assert "bot" in vias and vias[-1] == "bot"


async def test_revoked_token_and_deleted_message_still_deliver(tmp_path: Path) -> None:
    async with world(tmp_path, "videos", slow()) as w, w.bot() as app:
        ix = await app.video()
        await w.discord.wait_for(lambda: len(ix.edits) >= 2)
        w.discord.expire_token(ix)
        assert ix.original is not None
        await w.discord.delete_message(ix.original)
        channel_id = ix.original.channel_id
        replacement = await w.discord.wait_for(
            lambda: next((m for m in w.discord.channel_messages() if "✅" in m.content), None),
            timeout=20,
        )
        assert replacement.channel_id == channel_id and replacement.id != ix.original.id
        assert str(w.discord.user.id) in replacement.content
        job = (await w.store.recent_jobs(w.discord.user.id))[0]
        assert job.message_id == replacement.id and job.status == "completed"


async def test_forbidden_channel_falls_back_to_dm(tmp_path: Path) -> None:
    async with world(tmp_path, "generations", slow()) as w, w.bot() as app:
        ix = await app.video()
        await w.discord.wait_for(lambda: len(ix.edits) >= 2)
        w.discord.expire_token(ix)
        await w.discord.forbid_channel(w.discord.channel)
        assert ix.original is not None
        await w.discord.delete_message(ix.original)
        dm = w.discord.dm_channel(w.discord.user)
        final = await w.discord.wait_for(
            lambda: next((m for m in w.discord.channel_messages(dm) if "✅" in m.content), None),
            timeout=20,
        )
        assert "leaves" in final.content and final.attachments


async def test_cancel_button_owner_stranger_and_manager(tmp_path: Path) -> None:
    async with world(tmp_path, "videos", slow(step_delay=0.3)) as w, w.bot() as app:
        ix = await app.video()
        await w.discord.wait_for(lambda: w.provider.recorder.submissions == 1)
        await w.discord.wait_for(lambda: ix.original is not None and bool(ix.original.components))
        assert ix.original is not None
        button = ix.original.components[0]["components"][0]["custom_id"]
        assert button.startswith("video:cancel:")

        stranger = w.discord.add_user("stranger")
        refused = await w.discord.click(ix.original, button, user=stranger)
        await w.discord.wait_for(lambda: refused.callback is not None)
        assert refused.ephemeral and refused.callback is not None
        assert "Only the member" in refused.callback.data["content"]

        # A manager: the job is at the provider, so the click first asks (privately).
        asked = await w.discord.click(ix.original, button, user=w.discord.owner)
        await w.discord.wait_for(lambda: asked.callback is not None)
        assert asked.ephemeral and asked.original is not None
        assert "will not come back" in asked.original.content
        [confirm] = asked.original.custom_ids()
        assert confirm == button.replace("video:cancel:", "video:cancel-confirm:")
        assert await w.store.unfinished_jobs() != []  # nothing cancelled by the question
        done = await w.discord.click(asked.original, confirm, user=w.discord.owner)
        await w.discord.wait_for(lambda: ix.content is not None and "Cancelled by" in ix.content)
        assert ix.content is not None and str(w.discord.owner.id) in ix.content
        assert "not refunded" in ix.content
        await w.discord.wait_for(lambda: done.callback is not None)
        assert done.callback is not None and "no refund" in asked.original.content
        assert asked.original.custom_ids() == []  # the answer replaced the question's button
        assert len(w.provider.recorder.deleted) == 1  # the videos protocol deletes at the provider
        assert (await w.store.usage(w.discord.user.id, 3)).used == 1  # the provider billed it
        assert await w.store.unfinished_jobs() == []

        retry = ix.original.components[0]["components"][0]["custom_id"]
        assert retry.startswith("video:retry:")
        refused = await w.discord.click(ix.original, retry, user=stranger)
        await w.discord.wait_for(lambda: refused.callback is not None)
        assert refused.callback is not None and refused.ephemeral
        assert "can retry it" in refused.callback.data["content"]
        assert w.provider.recorder.submissions == 1
