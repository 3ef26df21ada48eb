"""Discord faults, injected through the fake Discord, end to end through the real bot.

Rate limits on edits, a deleted progress message, an expired interaction token,
a channel the bot may not post in, an upload refused as too large: the member
still gets the result, the ledger stays exact and other members are served.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.fake_provider.scenario import Scenario
from tests.support.fake_discord import SEND_MESSAGES, VIEW_CHANNEL, Bucket, FakeInteraction
from tests.support.harness import KEY, App, running_app, running_world


def slow(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 10, "step_delay": 0.1, **knobs})


async def progressing(app: App, ix: FakeInteraction) -> None:
    """Wait until the job has shown progress through its interaction at least twice."""
    await app.discord.wait_for(lambda: len(ix.edits) >= 2)


def posted_by_bot(app: App, after: float) -> list[Any]:
    """Bot-token messages created (``POST .../messages``) since ``after``."""
    return [
        r
        for r in app.discord.requests_to("POST", "/channels/{channel_id}/messages")
        if r.at > after and r.status == 200
    ]


@pytest.mark.parametrize("headers", [True, False])
async def test_rate_limited_edits_still_finish(headers: bool, tmp_path: Path) -> None:
    busy = Scenario(api_key=KEY, steps=25, step_delay=0.02)  # many progress steps a second
    async with running_app(tmp_path, "generations", busy) as app:
        bucket = Bucket(limit=2, period=0.4, headers=headers)
        app.discord.rate_limits.webhook_edit = bucket
        first = await app.video()
        second = await app.another_member_succeeds()  # its own token, its own bucket
        content = await app.finished(first)
        assert "✅" in content and first.original is not None
        assert len(first.original.attachments) == 1
        # Without X-RateLimit-* headers the bot can only learn from the 429s it gets.
        assert bucket.hits > 0 or headers
        # The editor coalesces: far fewer edits than the provider's progress steps.
        assert len(first.edits) < 25 and len(second.edits) < 25
        await app.check_ledger()


async def test_deleted_progress_message_is_replaced_once(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow()) as app:
        ix = await app.video()
        await progressing(app, ix)
        assert ix.original is not None
        deleted_at = app.discord.requests[-1].at
        await app.discord.delete_message(ix.original)
        final = await app.discord.wait_for(
            lambda: next((m for m in app.discord.channel_messages() if "✅" in m.content), None),
            timeout=20,
        )
        assert final.id != ix.original.id and len(final.attachments) == 1
        assert f"<@{app.discord.user.id}>" in final.content
        # One replacement, edited from then on: not a new message per progress step.
        posted = posted_by_bot(app, deleted_at)
        assert len(posted) == 1
        mentions = posted[0].json["allowed_mentions"]  # it pings the member, nobody else
        assert mentions["parse"] == [] and mentions["users"] == [app.discord.user.id]
        assert app.jobs()[0]["message_id"] == final.id
        assert [r.status for r in app.discord.requests].count(404) == 1  # never asked again
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_expired_token_continues_with_the_bot_token(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow()) as app:
        ix = await app.video()
        await progressing(app, ix)
        app.discord.expire_token(ix)
        content = await app.finished(ix)
        assert "✅" in content and ix.original is not None
        assert len(ix.original.attachments) == 1
        assert ix.original.history[-1].via == "bot"
        refused = [r for r in app.discord.requests if r.status == 401]
        assert len(refused) == 1 and refused[0].error_code == 50027  # never retried in a loop
        assert posted_by_bot(app, 0) == []  # the same message, not a new one
        await app.another_member_succeeds()
        await app.check_ledger()


@pytest.mark.parametrize(
    ("deny", "token_expires", "delete"),
    [(SEND_MESSAGES, False, True), (VIEW_CHANNEL, True, False)],
    ids=["deleted-message-no-send", "expired-token-no-access"],
)
async def test_forbidden_channel_falls_back_to_dm(
    deny: int, token_expires: bool, delete: bool, tmp_path: Path
) -> None:
    async with running_app(tmp_path, "generations", slow()) as app:
        ix = await app.video()
        await progressing(app, ix)
        assert ix.original is not None
        await app.discord.forbid_channel(app.discord.channel, deny)
        if token_expires:
            app.discord.expire_token(ix)
        if delete:
            await app.discord.delete_message(ix.original)
        dm = app.discord.dm_channel(app.discord.user)
        final = await app.discord.wait_for(
            lambda: next((m for m in app.discord.channel_messages(dm) if "✅" in m.content), None),
            timeout=20,
        )
        assert "leaves start to move" in final.content and len(final.attachments) == 1
        assert len(app.discord.channel_messages(dm)) == 1  # one DM, edited to the end
        forbidden = [r for r in app.discord.requests if r.status == 403]
        assert forbidden and all(r.error_code in (50001, 50013) for r in forbidden)
        assert [r.status for r in app.discord.requests].count(404) == int(delete)
        assert app.jobs()[0]["channel_id"] == dm.id
        await app.another_member_succeeds()  # its interaction works in that channel
        await app.check_ledger()


@pytest.mark.parametrize("refused_by", ["bot", "discord"])
async def test_too_large_upload_falls_back_to_the_link(refused_by: str, tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow(steps=6)) as app:
        if refused_by == "bot":  # the interaction says how much may be uploaded
            app.discord.guild.upload_limit = 1024  # smaller than the sample video
        ix = await app.video()
        await progressing(app, ix)
        if refused_by == "discord":  # the channel's limit is only known when Discord says no
            app.discord.expire_token(ix)
            app.discord.guild.upload_limit = 1024
        content = await app.finished(ix)
        assert "✅" in content and app.provider.url + "/files/" in content
        assert "too large to upload here, so it is shared as a link" in content
        assert ix.original is not None and ix.original.attachments == []
        too_large = [r for r in app.discord.requests if r.status == 413]
        assert len(too_large) == (1 if refused_by == "discord" else 0)
        assert await app.used() == 1  # the member got the video (as a link): it counts
        app.discord.guild.upload_limit = 10 * 1024 * 1024
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_shutdown_while_the_result_is_being_delivered(tmp_path: Path) -> None:
    async with running_world(tmp_path, "generations", slow(steps=6)) as world:
        async with world.bot() as app:
            ix = await app.video()
            await progressing(app, ix)
            # One edit per 1.5 s from now on: the result is held up by 429s.
            world.discord.rate_limits.webhook_edit = Bucket(limit=1, period=1.5, headers=False)
            completed = world.logs.event("job 1 completed")
            await asyncio.wait_for(completed.wait(), 10)
            assert ix.content is not None and "✅" not in ix.content
        # The bot shut down mid-delivery; the job is settled, nothing will resume it: the
        # member must have the video already, not a "restarting" note.
        assert ix.content is not None and "✅" in ix.content and "⏸" not in ix.content
        assert ix.original is not None and len(ix.original.attachments) == 1
        async with world.bot() as app:
            assert await app.store.unfinished_jobs() == []
            await app.another_member_succeeds()
            assert world.provider.recorder.submissions == 2
            await app.check_ledger()
