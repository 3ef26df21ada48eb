"""A throwaway discord.py client that hands real ``discord.Interaction`` objects to a test.

Code that takes an interaction (the job messenger, for one) can then be driven
directly, against the fake Discord, without the project's whole bot:

    async with probe_world() as (fake, probe):
        ix, interaction = await probe.defer()
        ...  # use ``interaction`` like /video does after its public defer

``/probe`` defers publicly with "thinking", as ``/video`` does, and keeps the
interaction for the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import discord
from discord import app_commands

from tests.support.fake_discord import FakeDiscord, FakeInteraction, running_bot
from tests.support.harness import LogCapture, capturing_logs, leaked_secrets


class ProbeBot(discord.Client):
    """A client with one command, ``/probe``, whose interactions the test receives."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.fake = fake
        self.tree = app_commands.CommandTree(self)
        self.received: dict[int, discord.Interaction] = {}
        self.logs = LogCapture()  # replaced by probe_world's capture
        self._cond = asyncio.Condition()
        self.tree.add_command(
            app_commands.Command(name="probe", description="Defer and wait", callback=self._probe)
        )

    async def setup_hook(self) -> None:
        """Register ``/probe`` with the fake."""
        await self.tree.sync()

    async def _probe(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        async with self._cond:
            self.received[interaction.id] = interaction
            self._cond.notify_all()

    async def defer(
        self, *, created_at: dt.datetime | None = None, **slash: Any
    ) -> tuple[FakeInteraction, discord.Interaction]:
        """Dispatch ``/probe``; returns the fake's record and the client's deferred interaction.

        ``created_at`` stamps the interaction in the past, so its token is that
        much nearer its 15-minute end; other keywords go to ``FakeDiscord.slash``.
        """
        ix = await self.fake.slash("probe", {}, created_at=created_at, **slash)
        async with asyncio.timeout(5), self._cond:
            await self._cond.wait_for(lambda: ix.id in self.received)
        assert ix.original is not None and ix.deferred
        return ix, self.received[ix.id]


@contextlib.asynccontextmanager
async def probe_world(**fake_options: Any) -> AsyncIterator[tuple[FakeDiscord, ProbeBot]]:
    """A fake Discord with a connected ``ProbeBot``; both closed on exit.

    Logs are captured on ``probe.logs``; at the end the bot token must not have
    reached a request body or path, nor a log line.
    """
    with capturing_logs(logging.DEBUG) as logs:
        async with FakeDiscord(**fake_options) as fake:
            async with running_bot(ProbeBot(fake), fake) as probe:
                probe.logs = logs
                yield fake, probe
            assert not fake.internal_errors
        assert leaked_secrets(fake, logs, fake.token) == []
