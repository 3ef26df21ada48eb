"""Self-tests of the loopback fake Discord, driven by the real discord.py client.

A throwaway bot (not the project's) exercises what the project bot will do:
defer, edit the original response, followups with files, channel messages
with persistent DynamicItem buttons, ephemeral refusals, and it records the
errors that reach its ``tree.on_error``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.support.fake_discord import SEND_MESSAGES, Bucket, FakeDiscord, running_bot


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=r"job:cancel:(?P<job>\d+)"):
    """A persistent cancel button whose custom_id carries the job id."""

    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Cancel", custom_id=f"job:cancel:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> JobButton:
        """Rebuild the button from its custom_id after a restart."""
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """The guild owner's click updates the message (type 7); others get an ephemeral reply."""
        assert interaction.guild is not None
        if interaction.user.id == interaction.guild.owner_id:
            await interaction.response.edit_message(content=f"job {self.job} cancelled", view=None)
        else:
            await interaction.response.send_message(f"cancelled {self.job}", ephemeral=True)
        note(interaction, "clicked", self.job)


class EchoBot(commands.Bot):
    """A tiny bot with the interaction patterns the project bot uses."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,  # else on_ready waits 2 s after the last GUILD_CREATE
        )
        self.notes: dict[str, list[Any]] = {}
        self._noted = asyncio.Event()
        self.tree.on_error = self.on_tree_error  # type: ignore[method-assign]
        for callback in (echo, refuse, spam, inspect):
            command = app_commands.Command(
                name=callback.__name__, description=callback.__doc__ or "-", callback=callback
            )
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        """Register persistent buttons and sync commands, as the project bot will."""
        self.add_dynamic_items(JobButton)
        await self.tree.sync()

    def note(self, key: str, value: Any) -> None:
        """Record something the test waits for."""
        self.notes.setdefault(key, []).append(value)
        self._noted.set()

    async def wait_note(self, key: str, timeout: float = 5.0) -> list[Any]:
        """Wait until ``key`` was noted at least once."""
        async with asyncio.timeout(timeout):
            while not self.notes.get(key):
                self._noted.clear()
                await self._noted.wait()
        return self.notes[key]

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Unwrap and record, like the project's single error handler."""
        self.note("error", getattr(error, "original", error))


def note(interaction: discord.Interaction, key: str, value: Any) -> None:
    """Record on the bot that handled ``interaction``."""
    bot = interaction.client
    assert isinstance(bot, EchoBot)
    bot.note(key, value)


async def echo(interaction: discord.Interaction, text: str) -> None:
    """Defer, edit twice, send a file followup and a channel message with a button."""
    note(interaction, "expired", interaction.is_expired())
    await interaction.response.defer()
    await interaction.edit_original_response(content=f"working on {text}")
    await interaction.edit_original_response(content=f"done: {text}")
    payload = discord.File(io.BytesIO(f"result of {text}".encode()), filename="result.txt")
    await interaction.followup.send("here is the file", file=payload)
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(42))
    assert isinstance(interaction.channel, discord.TextChannel)
    await interaction.channel.send(
        f"@everyone job 42 for {text}", view=view, allowed_mentions=discord.AllowedMentions.none()
    )


async def refuse(interaction: discord.Interaction) -> None:
    """Refuse ephemerally."""
    await interaction.response.send_message("not allowed", ephemeral=True)


async def spam(interaction: discord.Interaction, count: int) -> None:
    """Edit the original response ``count`` times, for rate limit tests."""
    await interaction.response.defer()
    for index in range(count):
        await interaction.edit_original_response(content=f"edit {index}")
    note(interaction, "spammed", count)


async def inspect(interaction: discord.Interaction, image: discord.Attachment) -> None:
    """Download the attachment and describe it; re-upload it if it fits."""
    await interaction.response.defer(ephemeral=True)
    data = await image.read()
    desc = f"{image.filename} {len(data)} {image.content_type} {image.width}x{image.height}"
    note(interaction, "limit", interaction.filesize_limit)
    await interaction.edit_original_response(content=desc)
    await interaction.edit_original_response(
        attachments=[discord.File(io.BytesIO(data), "copy.png")]
    )


def png(width: int = 64, height: int = 48) -> bytes:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def fake() -> Any:
    """A started fake Discord."""
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> Any:
    """The echo bot, logged in, connected and ready."""
    async with running_bot(EchoBot(), fake) as client:
        yield client


async def test_login_registers_commands_over_compressed_gateway(
    fake: FakeDiscord, bot: EchoBot
) -> None:
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    assert [g.id for g in bot.guilds] == [fake.guild.id]
    assert fake.gateway.identifies[0]["token"] == fake.token
    # zstd-stream when a zstd module is importable, else zlib-stream: both are served.
    assert fake.gateway.compression[0] in ("zlib-stream", "zstd-stream")
    (sync,) = fake.requests_to("PUT", "/applications/{app_id}/commands")
    assert sync.status == 200
    names = {c["name"]: c for c in fake.commands.registered()}
    assert set(names) == {"echo", "refuse", "spam", "inspect"}
    assert names["inspect"]["options"][0]["type"] == 11
    assert names["spam"]["options"][0]["type"] == 4


async def test_echo_defers_edits_uploads_and_posts_button(fake: FakeDiscord, bot: EchoBot) -> None:
    ix = await fake.slash("echo", {"text": "cats"})
    await fake.wait_for(lambda: len(fake.channel_messages()) == 3)
    assert ix.callback is not None and ix.callback.type == 5 and not ix.ephemeral
    assert ix.callback.at - ix.dispatched_at < 1.0
    assert [e.content for e in ix.edits[:2]] == ["working on cats", "done: cats"]
    assert ix.edits[0].at <= ix.edits[1].at
    (followup,) = ix.followups
    (upload,) = followup.attachments
    assert (upload.filename, upload.data, upload.content_type) == (
        "result.txt",
        b"result of cats",
        "text/plain",
    )
    reply, file_message, posted = fake.channel_messages()
    assert (reply, file_message) == (ix.original, followup)
    assert posted.content == "@everyone job 42 for cats"
    assert posted.custom_ids() == ["job:cancel:42"]
    assert posted.allowed_mentions == {"parse": []} and not posted.mention_everyone
    assert not bot.notes["expired"][0]


async def test_refuse_is_ephemeral_and_stays_out_of_the_channel(
    fake: FakeDiscord, bot: EchoBot
) -> None:
    ix = await fake.slash("refuse")
    await fake.wait_for(lambda: ix.callback)
    assert ix.callback is not None and ix.callback.type == 4
    assert ix.ephemeral and ix.content == "not allowed"
    assert fake.channel_messages() == []


async def test_button_click_reaches_dynamic_item_even_after_restart(
    fake: FakeDiscord, bot: EchoBot
) -> None:
    ix = await fake.slash("echo", {"text": "dogs"})
    posted = await fake.wait_for(lambda: [m for m in fake.channel_messages() if m.components])
    click = await fake.click(posted[0], "job:cancel:42")
    assert await bot.wait_note("clicked") == [42]
    await fake.wait_for(lambda: click.callback)
    assert click.ephemeral and click.content == "cancelled 42"
    assert ix.callback is not None
    await bot.close()
    async with running_bot(EchoBot(), fake) as reborn:
        update = await fake.click(posted[0], "job:cancel:42", user=fake.owner)
        assert await reborn.wait_note("clicked") == [42]
        await fake.wait_for(lambda: update.callback)
    assert update.callback is not None and update.callback.type == 7
    assert update.original is posted[0] and [e.content for e in update.edits] == [
        "job 42 cancelled"
    ]
    assert posted[0].components == [] and posted[0].history[0].components


async def test_expired_interaction_edit_fails_with_50027(fake: FakeDiscord, bot: EchoBot) -> None:
    old = discord.utils.utcnow() - dt.timedelta(minutes=16)
    ix = await fake.slash("echo", {"text": "late"}, created_at=old)
    (error,) = await bot.wait_note("error")
    assert bot.notes["expired"] == [True]
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (401, 50027)
    assert ix.callback is not None and ix.edits == []


async def test_attachment_option_downloads_from_cdn(fake: FakeDiscord, bot: EchoBot) -> None:
    image = fake.upload(png(), "cat.png")
    ix = await fake.slash("inspect", {"image": image}, attachment_size_limit=25 * 1024 * 1024)
    await fake.wait_for(lambda: len(ix.edits) == 2)
    assert ix.ephemeral
    assert ix.edits[0].content == f"cat.png {image.size} image/png 64x48"
    assert ix.original is not None and ix.original.attachments[0].data == image.data
    assert bot.notes["limit"] == [25 * 1024 * 1024]


async def test_upload_over_interaction_limit_gets_413(fake: FakeDiscord, bot: EchoBot) -> None:
    image = fake.upload(png(200, 200), "big.png")
    await fake.slash("inspect", {"image": image}, attachment_size_limit=image.size - 1)
    (error,) = await bot.wait_note("error")
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (413, 40005)


async def test_hidden_edit_bucket_429_is_retried_by_discord_py(
    fake: FakeDiscord, bot: EchoBot
) -> None:
    fake.rate_limits.webhook_edit = Bucket(limit=2, period=0.3, headers=False)
    ix = await fake.slash("spam", {"count": 4})
    assert await bot.wait_note("spammed") == [4]
    assert [e.content for e in ix.edits] == [f"edit {i}" for i in range(4)]
    limited = [r for r in fake.requests if r.status == 429]
    assert limited and all(r.headers["Via"] for r in limited)
    assert set(limited[0].response) == {"message", "retry_after", "global"}
    assert "error" not in bot.notes


async def test_visible_edit_bucket_lets_discord_py_pace_itself(
    fake: FakeDiscord, bot: EchoBot
) -> None:
    fake.rate_limits.webhook_edit = Bucket(limit=2, period=0.3)
    ix = await fake.slash("spam", {"count": 3})
    await bot.wait_note("spammed")
    assert len(ix.edits) == 3
    edits = fake.requests_to("PATCH", "/webhooks/")
    assert [r.status for r in edits] == [200, 200, 200]
    assert edits[1].headers["X-RateLimit-Remaining"] == "0"


async def test_global_limit_429_then_success(fake: FakeDiscord, bot: EchoBot) -> None:
    fake.rate_limits.global_ = Bucket(limit=2, period=0.3)
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await asyncio.gather(*(channel.send(f"m{i}") for i in range(4)))
    assert sorted(m.content for m in fake.channel_messages()) == ["m0", "m1", "m2", "m3"]
    limited = [r for r in fake.requests if r.status == 429]
    assert limited and limited[0].response["global"] is True
    assert limited[0].headers["X-RateLimit-Global"] == "true"


async def test_deleted_message_edit_is_404(fake: FakeDiscord, bot: EchoBot) -> None:
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("soon gone")
    await fake.delete_message(fake.messages[message.id])
    with pytest.raises(discord.NotFound) as caught:
        await message.edit(content="too late")
    assert caught.value.code == 10008


async def test_forbidden_channel_is_403_and_visible_in_cache(fake: FakeDiscord) -> None:
    locked = fake.add_channel("locked", bot_deny=SEND_MESSAGES)
    async with running_bot(EchoBot(), fake) as bot:
        channel = bot.get_channel(locked.id)
        assert isinstance(channel, discord.TextChannel)
        assert not channel.permissions_for(channel.guild.me).send_messages
        with pytest.raises(discord.Forbidden) as caught:
            await channel.send("hello")
        assert caught.value.code == 50013
        ix = await fake.slash("refuse", channel=locked)
        await fake.wait_for(lambda: ix.callback)
        assert ix.content == "not allowed"


async def test_channel_upload_limit_and_dm_rules(fake: FakeDiscord, bot: EchoBot) -> None:
    fake.guild.upload_limit = 1024
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(b"x" * 1025), "big.bin"))
    assert (caught.value.status, caught.value.code) == (413, 40005)
    alice = await bot.fetch_user(fake.user.id)
    await alice.send("hi alice")
    assert fake.channel_messages(fake.dm_channel(fake.user))[0].content == "hi alice"
    fake.user.dms_open = False
    with pytest.raises(discord.Forbidden) as closed:
        await alice.send("again")
    assert closed.value.code == 50007


async def test_gateway_reconnect_resumes_and_keeps_working(fake: FakeDiscord, bot: EchoBot) -> None:
    await fake.gateway.reconnect()
    await fake.wait_for(lambda: fake.gateway.resumes and fake.gateway.ready_sessions)
    assert len(fake.gateway.identifies) == 1
    ix = await fake.slash("refuse")
    await fake.wait_for(lambda: ix.callback)


async def test_json_content_type_and_bot_token_check(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as ok:
            assert ok.headers["Content-Type"] == "application/json"
            assert (await ok.json())["id"] == str(fake.bot_user.id)
        async with session.get(
            f"{fake.api_base}/users/@me", headers={"Authorization": "Bot x"}
        ) as bad:
            assert bad.status == 401
