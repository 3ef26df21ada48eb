"""Every request a job's message makes outside its progress edits waits for its budget first.

The messenger asks its pacer (in the bot, the job's ``EditHandle``) before each
request, with the request's route, except the one request the edit scheduler
already counted for a progress edit. The pacer here records what was asked and
how many requests Discord had seen by then.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.ui.messenger import JobMessenger
from tests.support.fake_discord import VIEW_CHANNEL, FakeDiscord
from tests.support.probe_bot import probe_world
from tests.ui.test_messenger import CHANNEL_EDIT, CHANNEL_POST, WEBHOOK, messenger, since


class RecordingPacer:
    """Grants every request at once; remembers each route and the requests sent around it."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.start = len(fake.requests)
        self.asked: list[tuple[bool, int | None, int]] = []
        self.answered: list[int] = []  # requests seen when each slot was left

    @contextlib.asynccontextmanager
    async def slot(self, via_interaction: bool, channel: int | None) -> AsyncIterator[None]:
        """Record the route and how many requests went out before and inside it."""
        self.asked.append((via_interaction, channel, self.sent()))
        try:
            yield
        finally:  # a refusal (403, 404) is an answer too
            self.answered.append(self.sent())

    def sent(self) -> int:
        """Requests Discord saw since the test began."""
        return len(self.fake.requests) - self.start


def paced(fake: FakeDiscord, job: JobMessenger) -> RecordingPacer:
    """Give ``job`` a recording pacer, counting requests from now."""
    pacer = RecordingPacer(fake)
    job.pacer = pacer
    return pacer


async def test_a_final_through_the_webhook_waits_on_its_token_route() -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        job = messenger(fake, probe, interaction, None)
        pacer = paced(fake, job)

        await job.finish("✅ Done", None)

        assert since(fake, pacer.start) == [("PATCH", WEBHOOK, 200)]
        assert pacer.asked == [(True, fake.channel.id, 0)]
        assert pacer.answered == [1]  # the slot lasted until Discord had answered
        assert ix.content == "✅ Done"


async def test_a_final_reposted_after_a_deleted_message_paces_both_requests() -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        job = messenger(fake, probe, None, ix.original.id)  # a restart: the bot token
        await fake.delete_message(ix.original)
        pacer = paced(fake, job)

        await job.finish("❌ Failed. Your credit was refunded.", None, "retry")

        assert since(fake, pacer.start) == [
            ("PATCH", CHANNEL_EDIT, 404),
            ("POST", CHANNEL_POST, 200),
        ]
        channel = fake.channel.id
        assert pacer.asked == [(False, channel, 0), (False, channel, 1)]


async def test_the_dm_fallback_paces_every_bot_token_request() -> None:
    async with probe_world() as (fake, probe):
        ix, _ = await probe.defer()
        assert ix.original is not None
        job = messenger(fake, probe, None, ix.original.id)
        await fake.forbid_channel(fake.channel, VIEW_CHANNEL)
        pacer = paced(fake, job)

        await job.finish("✅ Done", None)

        sent = fake.requests[pacer.start :]
        dm = fake.dm_channel(fake.user)
        assert [m.content for m in fake.channel_messages(dm)] == ["✅ Done"]
        # One pacing per request, each before its request: the channel's two refusals,
        # opening the DM (no channel) and the DM's message.
        assert all(r.bot_auth for r in sent)
        assert [n for _, _, n in pacer.asked] == list(range(len(sent)))
        assert pacer.answered == list(range(1, len(sent) + 1))
        assert [(via, ch) for via, ch, _ in pacer.asked] == [
            (False, fake.channel.id),
            (False, fake.channel.id),
            *[(False, None)] * (len(sent) - 3),
            (False, dm.id),
        ]


@pytest.mark.parametrize("refused", [False, True], ids=["fresh", "token-refused"])
async def test_a_progress_edit_counted_by_the_scheduler_paces_only_its_fallback(
    refused: bool,
) -> None:
    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        assert ix.original is not None
        job = messenger(fake, probe, interaction, ix.original.id)
        if refused:
            fake.expire_token(ix)  # 401 / 50027: the bot token takes over at once
        pacer = paced(fake, job)

        await job.edit("Rendering… 40%", "cancel", prepaid=True)

        if refused:
            assert since(fake, pacer.start) == [
                ("PATCH", WEBHOOK, 401),
                ("PATCH", CHANNEL_EDIT, 200),
            ]
            assert pacer.asked == [(False, fake.channel.id, 1)]
        else:
            assert since(fake, pacer.start) == [("PATCH", WEBHOOK, 200)]
            assert pacer.asked == []
        assert ix.content == "Rendering… 40%"
