"""Job buttons on their own: custom ids round-trip, clicks reach the handler, who may cancel."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import discord
import pytest

from bot.app import SoraBot
from bot.db import Store
from bot.errors import UNEXPECTED, UserError
from bot.providers.base import Provider
from bot.ui.buttons import (
    UNAVAILABLE,
    CancelButton,
    CancelConfirmButton,
    JobButtonHandler,
    RetryButton,
    job_view,
)
from tests.jobs.conftest import USER, TinyProvider, make_settings, request_for, reserve

OWNER = 77


@dataclass
class Response:
    """The part of ``InteractionResponse`` a click uses."""

    sent: list[tuple[str, bool]] = field(default_factory=list)

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(
        self, content: str, *, ephemeral: bool = False, view: object = None
    ) -> None:
        self.sent.append((content, ephemeral))


@dataclass
class Click:
    """A button click as the callbacks see it (``discord.Interaction``'s used attributes)."""

    client: object
    user: discord.Object
    permissions: discord.Permissions = field(default_factory=discord.Permissions.none)
    guild_id: int | None = 2002
    response: Response = field(default_factory=Response)

    def typed(self) -> discord.Interaction:
        return cast(discord.Interaction, self)


class Handler:
    """Records which job each click asked for; can fail like a refused retry."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.error = error

    async def on_job_cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        self.calls.append(("cancel", job_id))
        if self.error:
            raise self.error

    async def on_job_retry(self, interaction: discord.Interaction, job_id: int) -> None:
        self.calls.append(("retry", job_id))
        if self.error:
            raise self.error

    async def on_job_cancel_confirm(self, interaction: discord.Interaction, job_id: int) -> None:
        self.calls.append(("cancel-confirm", job_id))


async def from_custom_id(cls: Any, custom_id: str) -> Any:
    pattern: re.Pattern[str] = cls.__discord_ui_compiled_template__
    match = pattern.fullmatch(custom_id)
    assert match is not None
    return await cls.from_custom_id(None, None, match)


async def test_custom_ids_round_trip() -> None:
    for cls, prefix in ((CancelButton, "video:cancel:"), (RetryButton, "video:retry:")):
        button = cls(123456789012345678)
        assert button.custom_id == f"{prefix}123456789012345678"
        again = await from_custom_id(cls, button.custom_id)
        assert again.job_id == 123456789012345678
    view = job_view(5, "cancel")
    assert view is not None
    assert [cast(Any, i).custom_id for i in view.children] == ["video:cancel:5"]
    assert job_view(5, None) is None


async def test_clicks_reach_the_handler() -> None:
    handler = Handler()
    assert isinstance(handler, JobButtonHandler)
    click = Click(handler, discord.Object(USER))
    await CancelButton(7).callback(click.typed())
    await RetryButton(8).callback(click.typed())
    await CancelConfirmButton(9).callback(click.typed())
    assert handler.calls == [("cancel", 7), ("retry", 8), ("cancel-confirm", 9)]
    confirm = await from_custom_id(CancelConfirmButton, "video:cancel-confirm:9")
    assert confirm.job_id == 9 and confirm.custom_id == "video:cancel-confirm:9"


async def test_errors_and_a_client_without_a_handler_are_answered() -> None:
    refused = Click(Handler(UserError("Only a failed video can be retried.")), discord.Object(1))
    await RetryButton(9).callback(refused.typed())
    assert refused.response.sent == [("Only a failed video can be retried.", True)]
    crashed = Click(Handler(RuntimeError("bug")), discord.Object(1))
    await CancelButton(9).callback(crashed.typed())
    assert crashed.response.sent == [(UNEXPECTED, True)]
    nobody = Click(object(), discord.Object(1))
    await CancelButton(9).callback(nobody.typed())
    assert nobody.response.sent == [(UNAVAILABLE, True)]


@pytest.fixture
async def bot(
    tmp_path: Path, session: aiohttp.ClientSession
) -> AsyncIterator[tuple[SoraBot, Store]]:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        client = SoraBot(
            settings=make_settings(owner_ids=(OWNER,)),
            session=session,
            store=store,
            provider=cast(Provider, TinyProvider()),
        )
        yield client, store
        await client.jobs.close()


async def test_who_may_cancel_another_members_job(bot: tuple[SoraBot, Store]) -> None:
    client, store = bot
    manager = discord.Permissions(manage_guild=True)
    cases = [
        (Click(client, discord.Object(5)), "Only the member"),  # someone else
        (Click(client, discord.Object(5), manager, guild_id=None), "Only the member"),  # a DM
        (Click(client, discord.Object(5), manager, guild_id=3003), "Only the member"),  # B's
        (Click(client, discord.Object(5), manager), "Cancelled."),  # a server manager
        (Click(client, discord.Object(OWNER), guild_id=None), "Cancelled."),  # a bot owner
        (Click(client, discord.Object(USER)), "Cancelled."),  # the job's member
    ]
    for click, answer in cases:
        job = await reserve(store, request_for("http://127.0.0.1:9/x.png"))
        await CancelButton(job.id).callback(click.typed())
        [(content, ephemeral)] = click.response.sent
        assert content.startswith(answer) and ephemeral
        expected = "queued" if answer.startswith("Only") else "cancelled"
        assert (await store.get_job(job.id)).status == expected  # type: ignore[union-attr]
