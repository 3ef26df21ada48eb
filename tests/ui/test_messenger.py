"""``JobMessenger`` through the real discord.py client against the fake Discord.

Each test defers a real interaction (``/probe``, like ``/video``'s public defer),
hands it to a messenger and asserts what the fake recorded: which route each
edit took, with which credentials, and where the member's message ended up.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import discord
import pytest

from bot.ui.messenger import (
    DEFAULT_UPLOAD_LIMIT,
    TOKEN_MARGIN,
    UPLOAD_HEADROOM,
    DeliveryFailed,
    JobMessenger,
    StoredToken,
)
from tests.support.fake_discord import (
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeDiscord,
    RecordedRequest,
)
from tests.support.probe_bot import ProbeBot, probe_world

JOB = 7
WEBHOOK = "/webhooks/{app_id}/{token}/messages/{message_id}"
CHANNEL_EDIT = "/channels/{channel_id}/messages/{message_id}"
CHANNEL_POST = "/channels/{channel_id}/messages"
TOKEN_LIFE = dt.timedelta(minutes=15)


class Moves:
    """An ``on_moved`` callback that remembers every new home of the message."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    async def __call__(self, channel_id: int, message_id: int) -> None:
        self.seen.append((channel_id, message_id))


def messenger(
    fake: FakeDiscord,
    probe: ProbeBot,
    interaction: discord.Interaction | None,
    message_id: int | None,
    moves: Moves | None = None,
    token: StoredToken | None = None,
) -> JobMessenger:
    """A messenger for the fake member's job in ``#general`` (``token``: a resumed job's)."""
    return JobMessenger(
        probe,
        job_id=JOB,
        user_id=fake.user.id,
        channel_id=fake.channel.id,
        message_id=message_id,
        interaction=interaction,
        token=token,
        claimed=token is not None,
        on_moved=moves,
    )


def messages(fake: FakeDiscord, start: int) -> list[RecordedRequest]:
    """The message requests (webhook or channel) recorded after ``start``.

    Opening the DM channel and fetching users are left out: discord.py decides
    those from its cache.
    """
    return [r for r in fake.requests[start:] if r.route in (WEBHOOK, CHANNEL_EDIT, CHANNEL_POST)]


def since(fake: FakeDiscord, start: int) -> list[tuple[str, str, int]]:
    """``(method, route, status)`` of the message requests recorded after ``start``."""
    return [(r.method, r.route, r.status) for r in messages(fake, start)]


def last(fake: FakeDiscord, method: str, route: str) -> RecordedRequest:
    """The newest recorded request to ``route``."""
    return fake.requests_to(method, route)[-1]


def expiring_in(left: dt.timedelta) -> dt.datetime:
    """A creation time that leaves an interaction token ``left`` to live."""
    return discord.utils.utcnow() - TOKEN_LIFE + left


def video_file(tmp_path: Path, size: int) -> Path:
    """An mp4-named file of ``size`` bytes."""
    path = tmp_path / "job-7.mp4"
    path.write_bytes(b"\0\0\0\x18ftypmp42" + b"v" * (size - 12))
    return path


async def test_fresh_token_edits_the_original_response_through_the_webhook() -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, interaction, None, moves)
        assert job.via_interaction
        start = len(fake.requests)

        await job.edit("Rendering… 40%", "cancel")
        await job.edit("Rendering… 80%", "cancel")

        assert since(fake, start) == [("PATCH", WEBHOOK, 200)] * 2
        sent = fake.requests[start:]
        assert all(not r.bot_auth and r.params["message_id"] == "@original" for r in sent)
        assert sent[-1].json["allowed_mentions"] == {"parse": []}
        assert [rev.via for rev in ix.edits] == ["webhook", "webhook"]
        assert ix.content == "Rendering… 80%"
        assert ix.original.custom_ids() == [f"video:cancel:{JOB}"]
        assert job.message_id == ix.original.id
        assert fake.channel_messages() == [ix.original]
        assert moves.seen == []


@pytest.mark.parametrize(
    ("left", "webhook"),
    [
        (TOKEN_MARGIN + dt.timedelta(seconds=60), True),
        (TOKEN_MARGIN - dt.timedelta(seconds=30), False),
    ],
)
async def test_token_near_its_end_hands_over_to_the_bot_token(
    left: dt.timedelta, webhook: bool
) -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer(created_at=expiring_in(left))
        assert ix.original is not None and ix.token_valid()  # Discord would still take it
        job = messenger(fake, probe, interaction, ix.original.id)
        assert job.via_interaction is webhook
        start = len(fake.requests)

        await job.edit("✅ Done", None)

        route = WEBHOOK if webhook else CHANNEL_EDIT
        assert since(fake, start) == [("PATCH", route, 200)]
        assert fake.requests[-1].bot_auth is not webhook
        assert ix.original.history[-1].via == ("webhook" if webhook else "bot")
        assert ix.content == "✅ Done" and ix.original.components == []
        assert job.message_id == ix.original.id


@pytest.mark.parametrize("live", [True, False], ids=["interaction", "stored-token"])
async def test_refused_token_is_tried_once_then_the_bot_token_carries_on(live: bool) -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        # A resumed job has only the token stored with it.
        token = None if live else StoredToken.issued(fake.application_id, ix.token, ix.created_at)
        job = messenger(fake, probe, interaction if live else None, ix.original.id, token=token)
        fake.expire_token(ix)  # 401 / 50027 although discord.py still thinks it fresh
        start = len(fake.requests)

        await job.edit("Rendering… 50%", "cancel")
        await job.edit("Rendering… 90%", "cancel")

        assert since(fake, start) == [
            ("PATCH", WEBHOOK, 401),
            ("PATCH", CHANNEL_EDIT, 200),
            ("PATCH", CHANNEL_EDIT, 200),
        ]
        assert fake.requests_to("PATCH", WEBHOOK)[-1].error_code == 50027
        assert job.interaction is None and job.token is None and not job.via_interaction
        assert ix.content == "Rendering… 90%"
        assert [rev.via for rev in ix.edits] == ["bot", "bot"]
        logged = "\n".join(probe.logs.messages("bot"))
        assert "interaction token refused (50027)" in logged and ix.token not in logged


async def test_deleted_message_is_posted_anew_and_its_new_home_reported() -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, interaction, ix.original.id, moves)
        await fake.delete_message(ix.original)
        start = len(fake.requests)
        member = fake.user.id

        await job.edit(f"<@{member}> Rendering… 60% @everyone", "cancel")
        [posted] = fake.channel_messages()
        # The new message may ping its member, never everyone.
        assert posted.mention_ids == [member] and not posted.mention_everyone
        assert moves.seen == [(fake.channel.id, posted.id)]
        assert (job.channel_id, job.message_id) == (fake.channel.id, posted.id)
        assert job.interaction is None  # the webhook could only edit the deleted original
        await job.edit("Rendering… 70%", "cancel")

        assert since(fake, start) == [
            ("PATCH", WEBHOOK, 404),
            ("POST", CHANNEL_POST, 200),
            ("PATCH", CHANNEL_EDIT, 200),
        ]
        assert fake.requests_to("PATCH", WEBHOOK)[-1].error_code == 10008
        assert last(fake, "PATCH", CHANNEL_EDIT).params["message_id"] == str(posted.id)
        assert fake.channel_messages() == [posted] and moves.seen == [(fake.channel.id, posted.id)]
        assert posted.content == "Rendering… 70%"
        assert posted.custom_ids() == [f"video:cancel:{JOB}"]


async def test_deleted_message_after_a_restart_is_posted_anew() -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, None, ix.original.id, moves)  # ids from the database
        await fake.delete_message(ix.original)
        start = len(fake.requests)

        await job.edit("❌ The provider failed. Your credit was refunded.", "retry")

        assert since(fake, start) == [("PATCH", CHANNEL_EDIT, 404), ("POST", CHANNEL_POST, 200)]
        [posted] = fake.channel_messages()
        assert posted.content.startswith("❌ The provider failed")
        assert posted.custom_ids() == [f"video:retry:{JOB}"]
        assert moves.seen == [(fake.channel.id, posted.id)]


@pytest.mark.parametrize(
    ("deny", "deleted", "edit_status"),
    [
        (VIEW_CHANNEL, False, 403),  # the bot lost sight of the channel: 50001
        (SEND_MESSAGES, True, 404),  # message gone and the bot may not post: 50013
    ],
)
async def test_channel_closed_to_the_bot_moves_the_message_to_a_dm(
    deny: int, deleted: bool, edit_status: int
) -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, None, ix.original.id, moves)
        await fake.forbid_channel(fake.channel, deny)
        if deleted:
            await fake.delete_message(ix.original)
        start = len(fake.requests)

        await job.edit("Rendering… 30%", "cancel")
        middle = len(fake.requests)
        await job.edit("✅ Done", None)

        assert since(fake, start) == [
            ("PATCH", CHANNEL_EDIT, edit_status),
            ("POST", CHANNEL_POST, 403),
            ("POST", CHANNEL_POST, 200),
            ("PATCH", CHANNEL_EDIT, 200),
        ]
        dm = fake.dm_channel(fake.user)
        [sent] = fake.channel_messages(dm)
        assert moves.seen == [(dm.id, sent.id)]
        assert (job.channel_id, job.message_id) == (dm.id, sent.id)
        # Once the channel refused, later edits go straight to the DM.
        assert all(r.params.get("channel_id") == str(dm.id) for r in fake.requests[middle:])
        assert sent.content == "✅ Done" and sent.components == []
        assert [rev.content for rev in sent.history] == ["Rendering… 30%", "✅ Done"]
        assert fake.channel_messages() == ([] if deleted else [ix.original])


async def test_video_is_attached_when_discord_takes_it(tmp_path: Path) -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        job = messenger(fake, probe, interaction, ix.original.id)
        video = video_file(tmp_path, 4096)

        attached = await job.finish("✅ Done", video, "retry", without_video="✅ Done (link)")

        assert attached
        assert [(a.filename, a.data) for a in ix.original.attachments] == [
            ("job-7.mp4", video.read_bytes())
        ]
        assert ix.content == "✅ Done"


async def test_upload_too_large_for_the_webhook_sends_the_text_without_the_file(
    tmp_path: Path,
) -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer(attachment_size_limit=2048)
        assert ix.original is not None
        job = messenger(fake, probe, interaction, ix.original.id)
        start = len(fake.requests)

        attached = await job.finish(
            "✅ Done", video_file(tmp_path, 4096), None, without_video="✅ Done: link inside"
        )

        assert not attached
        assert since(fake, start) == [("PATCH", WEBHOOK, 413), ("PATCH", WEBHOOK, 200)]
        refused, accepted = fake.requests[start:]
        assert refused.error_code == 40005 and len(refused.files) == 1
        assert accepted.files == [] and accepted.json["attachments"] == []
        assert ix.content == "✅ Done: link inside" and ix.original.attachments == []
        assert "upload refused as too large" in "\n".join(probe.logs.messages("bot.ui"))


async def test_upload_too_large_for_the_channel_sends_the_text_without_the_file(
    tmp_path: Path,
) -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        fake.guild.upload_limit = 2048
        job = messenger(fake, probe, None, ix.original.id)
        start = len(fake.requests)

        attached = await job.finish(
            "✅ Done", video_file(tmp_path, 4096), None, without_video="✅ Done: link inside"
        )

        assert not attached
        assert since(fake, start) == [("PATCH", CHANNEL_EDIT, 413), ("PATCH", CHANNEL_EDIT, 200)]
        assert last(fake, "PATCH", CHANNEL_EDIT).json["attachments"] == []
        assert ix.content == "✅ Done: link inside" and ix.original.attachments == []


async def test_upload_too_large_in_a_dm_sends_the_text_without_the_file(tmp_path: Path) -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, None, ix.original.id, moves)
        await fake.forbid_channel(fake.channel, VIEW_CHANNEL)
        start = len(fake.requests)
        fake.attachment_size_limit = 2048  # outside guilds, the fake's default limit

        attached = await job.finish(
            "✅ Done", video_file(tmp_path, 12 * 1024 * 1024), None, without_video="✅ Link"
        )

        assert not attached
        dm = fake.dm_channel(fake.user)
        [sent] = fake.channel_messages(dm)
        assert sent.content == "✅ Link" and sent.attachments == []
        assert moves.seen == [(dm.id, sent.id)]
        dm_posts = [r for r in fake.requests[start:] if r.params.get("channel_id") == str(dm.id)]
        assert [(r.status, len(r.files)) for r in dm_posts] == [(413, 1), (200, 0)]


def test_upload_limit_leaves_room_for_the_json_part() -> None:
    client = discord.Client(intents=discord.Intents.none())
    job = JobMessenger(client, job_id=1, user_id=2, channel_id=3, message_id=4)
    assert job.upload_limit == DEFAULT_UPLOAD_LIMIT - UPLOAD_HEADROOM
    small = JobMessenger(client, job_id=1, user_id=2, channel_id=3, message_id=4, upload_limit=100)
    assert small.upload_limit == 0
    assert not job.via_interaction


async def test_interaction_limit_sets_the_upload_limit() -> None:
    async with probe_world() as (fake, probe):
        _, interaction = await probe.defer(attachment_size_limit=25 * 1024 * 1024)
        job = messenger(fake, probe, interaction, None)
        assert job.upload_limit == 25 * 1024 * 1024 - UPLOAD_HEADROOM


async def test_nothing_left_raises_delivery_failed_without_retrying() -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        moves = Moves()
        job = messenger(fake, probe, interaction, ix.original.id, moves)
        fake.expire_token(ix)
        await fake.forbid_channel(fake.channel, VIEW_CHANNEL)
        fake.user.dms_open = False
        start = len(fake.requests)

        with pytest.raises(DeliveryFailed) as failed:
            await job.edit("❌ Failed. Your credit was refunded.", "retry")
        middle = len(fake.requests)
        with pytest.raises(DeliveryFailed):
            await job.edit("❌ Failed. Your credit was refunded.", "retry")

        dm = fake.dm_channel(fake.user)
        assert isinstance(failed.value.__cause__, discord.Forbidden)
        assert failed.value.__cause__.code == 50007
        assert since(fake, start)[:4] == [
            ("PATCH", WEBHOOK, 401),
            ("PATCH", CHANNEL_EDIT, 403),
            ("POST", CHANNEL_POST, 403),
            ("POST", CHANNEL_POST, 403),
        ]
        assert messages(fake, start)[3].params["channel_id"] == str(dm.id)
        # The second attempt only knocks on the DM again: no webhook, no channel.
        second = messages(fake, middle)
        assert [(r.method, r.params["channel_id"], r.status) for r in second] == [
            ("POST", str(dm.id), 403)
        ]
        assert len(messages(fake, start)) == 5
        assert moves.seen == []
        assert fake.channel_messages(dm) == [] and ix.content == ""


async def test_other_errors_are_raised_at_once_and_keep_the_webhook() -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        job = messenger(fake, probe, interaction, ix.original.id)
        start = len(fake.requests)

        with pytest.raises(discord.HTTPException) as refused:
            await job.edit("x" * 2001, None)  # over Discord's 2000 characters: 400 / 50035

        assert refused.value.code == 50035
        assert since(fake, start) == [("PATCH", WEBHOOK, 400)]
        assert job.via_interaction and job.message_id == ix.original.id
        await job.edit("Rendering… 10%", "cancel")
        assert since(fake, start)[-1] == ("PATCH", WEBHOOK, 200)
