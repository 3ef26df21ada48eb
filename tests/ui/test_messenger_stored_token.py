"""``JobMessenger`` with the token stored with the job: a resumed job keeps its webhook edits.

No ``discord.Interaction`` exists in the process that resumes a job (another
process accepted it, or this one before a restart): only the token, the
application id and the job's creation time, from the database. Each test
defers a real interaction on the fake Discord, then hands the messenger just
those and asserts what the fake recorded.
"""

from __future__ import annotations

import datetime as dt

import discord

from bot.ui.messenger import TOKEN_LIFE, TOKEN_MARGIN, JobMessenger, StoredToken
from tests.support.fake_discord import FakeDiscord, FakeInteraction
from tests.support.probe_bot import ProbeBot, probe_world
from tests.ui.test_messenger import (
    CHANNEL_EDIT,
    CHANNEL_POST,
    JOB,
    WEBHOOK,
    Moves,
    expiring_in,
    messenger,
    since,
)


def stored(fake: FakeDiscord, ix: FakeInteraction, *, at: dt.datetime | None = None) -> StoredToken:
    """What the database keeps of ``ix``: its token, the application, the job's creation time."""
    return StoredToken.issued(fake.application_id, ix.token, at or ix.created_at)


def resumed(
    fake: FakeDiscord,
    probe: ProbeBot,
    token: StoredToken,
    message_id: int | None,
    moves: Moves | None = None,
) -> JobMessenger:
    """A messenger as a process resuming the job builds it: no interaction object."""
    return messenger(fake, probe, None, message_id, moves, token=token)


def test_the_token_stays_out_of_repr() -> None:
    token = StoredToken.issued(1, "very-secret-token", discord.utils.utcnow())
    assert "very-secret-token" not in repr(token) and "application_id=1" in repr(token)
    assert token.expires_at - discord.utils.utcnow() <= TOKEN_LIFE


async def test_stored_token_edits_the_original_response_with_its_buttons() -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        job = resumed(fake, probe, stored(fake, ix), ix.original.id)
        assert job.via_interaction and job.claimed
        start = len(fake.requests)

        await job.edit("Rendering… 40%", "cancel")

        assert since(fake, start) == [("PATCH", WEBHOOK, 200)]
        [sent] = fake.requests[start:]
        assert not sent.bot_auth
        assert sent.params == {
            "app_id": str(fake.application_id),
            "token": ix.token,
            "message_id": "@original",
        }
        assert sent.json["allowed_mentions"] == {"parse": []}
        # The persistent Cancel button went with it: the client's state accepts the view.
        assert ix.original.custom_ids() == [f"video:cancel:{JOB}"]
        assert ix.content == "Rendering… 40%" and [r.via for r in ix.edits] == ["webhook"]
        assert job.message_id == ix.original.id
        assert not any(ix.token in m for m in probe.logs.messages("bot"))


async def test_stored_token_near_its_end_is_not_used() -> None:
    async with probe_world() as (fake, probe):
        left = TOKEN_MARGIN - dt.timedelta(seconds=20)
        ix, _ = await probe.defer(created_at=expiring_in(left))
        assert ix.original is not None and ix.token_valid()  # Discord would still take it
        job = resumed(fake, probe, stored(fake, ix), ix.original.id)
        assert not job.via_interaction
        start = len(fake.requests)

        await job.edit("Rendering… 90%", "cancel")

        assert since(fake, start) == [("PATCH", CHANNEL_EDIT, 200)]
        assert fake.requests[-1].bot_auth and ix.original.history[-1].via == "bot"


async def test_job_that_had_moved_keeps_its_new_message() -> None:
    """The original was deleted and the job posted anew before its process died."""
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        await fake.delete_message(ix.original)
        await probe.get_partial_messageable(fake.channel.id).send("Rendering… 30%")
        [moved] = fake.channel_messages()
        moves = Moves()
        job = resumed(fake, probe, stored(fake, ix), moved.id, moves)
        start = len(fake.requests)

        await job.edit("Rendering… 70%", "cancel")

        # 10008 from the webhook says nothing of the stored message: the bot token edits it.
        assert since(fake, start) == [("PATCH", WEBHOOK, 404), ("PATCH", CHANNEL_EDIT, 200)]
        assert moved.content == "Rendering… 70%" and job.message_id == moved.id
        assert moves.seen == [] and fake.channel_messages() == [moved]


async def test_deleted_original_of_a_resumed_job_is_posted_anew() -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = resumed(fake, probe, stored(fake, ix), ix.original.id, moves)
        await fake.delete_message(ix.original)
        start = len(fake.requests)

        await job.edit("Rendering… 80%", "cancel")

        assert since(fake, start) == [
            ("PATCH", WEBHOOK, 404),
            ("PATCH", CHANNEL_EDIT, 404),
            ("POST", CHANNEL_POST, 200),
        ]
        [posted] = fake.channel_messages()
        assert moves.seen == [(fake.channel.id, posted.id)] and posted.content == "Rendering… 80%"
