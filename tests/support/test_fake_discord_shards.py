"""Self-tests of the fake Discord's sharding: each gateway session sees only its shard's guilds.

Discord routes a guild's events to the shard ``(guild_id >> 22) % shard_count``
and DMs to shard 0 (https://discord.com/developers/docs/topics/gateway#sharding).
The bot's shard clusters rely on the fake doing the same, so it is pinned here
with raw websockets (the wire) and with discord.py's own ``AutoShardedClient``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.support.fake_discord import FakeDiscord, FakeGuild, running_bot
from tests.support.fake_discord.gateway import Session
from tests.support.fake_discord.models import shard_of

PING = {"name": "ping", "description": "Ping", "options": []}


class RawShard:
    """A minimal uncompressed gateway client that IDENTIFYs as one shard."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def receive(self) -> dict[str, Any]:
        """The next frame (a text frame: no ``compress`` was asked for)."""
        msg = await self.ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        frame: dict[str, Any] = json.loads(msg.data)
        return frame

    async def next_event(self, name: str) -> dict[str, Any]:
        """Skip frames until the dispatch ``name``; return its ``d``."""
        while True:
            frame = await self.receive()
            if frame.get("t") == name:
                data: dict[str, Any] = frame["d"]
                return data


@contextlib.asynccontextmanager
async def raw_shard(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any
) -> AsyncIterator[RawShard]:
    """A connection that sent HELLO's answer and IDENTIFY with ``shard``."""
    async with http.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
        raw = RawShard(ws)
        assert (await raw.receive())["op"] == 10
        identify = {"token": fake.token, "intents": 1, "properties": {}, "shard": shard}
        await ws.send_json({"op": 2, "d": identify})
        yield raw


def session_of(fake: FakeDiscord, shard_id: int) -> Session:
    """The one live session that identified as ``shard_id``."""
    [session] = [s for s in fake.gateway.ready_sessions if s.shard[0] == shard_id]
    return session


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake with one more guild on each of two shards, and /ping everywhere."""
    async with FakeDiscord() as server:
        server.add_guild("Shard Zero", shard=(0, 2))
        server.add_guild("Shard One", shard=(1, 2))
        server.commands.replace(None, [PING])
        for guild in server.guilds:
            server.commands.replace(guild.id, [PING])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session."""
    async with aiohttp.ClientSession() as session:
        yield session


def on_shard(fake: FakeDiscord, shard_id: int) -> list[FakeGuild]:
    return [g for g in fake.guilds if shard_of(g.id, 2) == shard_id]


def test_guild_ids_can_be_minted_on_a_shard(fake: FakeDiscord) -> None:
    assert [shard_of(g.id, 2) for g in fake.guilds[1:]] == [0, 1]
    for count in (1, 3, 16):
        for shard_id in range(count):
            assert (fake.ids.on_shard(shard_id, count) >> 22) % count == shard_id
    with pytest.raises(ValueError, match="not one of 2"):
        fake.ids.on_shard(2, 2)


async def test_two_shards_each_get_only_their_guilds(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    zero_ids = {str(g.id) for g in on_shard(fake, 0)}
    one_ids = {str(g.id) for g in on_shard(fake, 1)}
    assert zero_ids and one_ids  # both shards have guilds, or the test proves nothing
    async with raw_shard(fake, http, [0, 2]) as zero, raw_shard(fake, http, [1, 2]) as one:
        for raw, shard_id, mine in ((zero, 0, zero_ids), (one, 1, one_ids)):
            ready = await raw.next_event("READY")
            assert ready["shard"] == [shard_id, 2]
            assert {g["id"] for g in ready["guilds"]} == mine
            created = {(await raw.next_event("GUILD_CREATE"))["id"] for _ in mine}
            assert created == mine

        guild_one = fake.find_guild(int(sorted(one_ids)[0]))
        assert guild_one is not None
        ix = await fake.slash("ping", guild=guild_one)
        event = await one.next_event("INTERACTION_CREATE")
        assert event["id"] == str(ix.id)
        dm = await fake.slash("ping", channel=fake.dm_channel(fake.user))
        event = await zero.next_event("INTERACTION_CREATE")
        assert event["id"] == str(dm.id) and "guild_id" not in event

        # Everything each session was sent: the other shard's guild and the DM never crossed.
        zero_seen = {d["id"] for d in session_of(fake, 0).events("INTERACTION_CREATE")}
        one_seen = {d["id"] for d in session_of(fake, 1).events("INTERACTION_CREATE")}
        assert (zero_seen, one_seen) == ({str(dm.id)}, {str(ix.id)})
        assert {d["id"] for d in session_of(fake, 1).events("GUILD_CREATE")} == one_ids


async def test_a_session_without_shard_gets_everything(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
        raw = RawShard(ws)
        await raw.receive()
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}}})
        ready = await raw.next_event("READY")
        assert "shard" not in ready
        assert {g["id"] for g in ready["guilds"]} == {str(g.id) for g in fake.guilds}


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,2", [0, True]])
async def test_an_impossible_shard_is_closed_with_4010(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any
) -> None:
    async with raw_shard(fake, http, shard) as raw:
        msg = await raw.ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4010
    assert not fake.gateway.sessions


async def test_gateway_bot_reports_the_recommended_shards(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    fake.recommended_shards = 3
    headers = {"Authorization": f"Bot {fake.token}"}
    async with http.get(fake.api_base + "/gateway/bot", headers=headers) as response:
        body = await response.json()
    assert body["shards"] == 3 and body["url"] == fake.gateway_url


class ShardBot(commands.AutoShardedBot):
    """discord.py's own sharded client, connecting the shards it is given."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.none() | discord.Intents(guilds=True),
            guild_ready_timeout=0.1,
            **options,
        )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause between a process's IDENTIFYs: the fake has no identify limit."""


async def test_discord_py_clusters_see_only_their_guilds(fake: FakeDiscord) -> None:
    zero, one = ShardBot(shard_ids=[0], shard_count=2), ShardBot(shard_ids=[1], shard_count=2)
    async with running_bot(zero, fake), running_bot(one, fake):
        assert {g.id for g in zero.guilds} == {g.id for g in on_shard(fake, 0)}
        assert {g.id for g in one.guilds} == {g.id for g in on_shard(fake, 1)}
    shards = sorted(tuple(i["shard"]) for i in fake.gateway.identifies)
    assert shards == [(0, 2), (1, 2)]


async def test_discord_py_automatic_sharding_follows_gateway_bot(fake: FakeDiscord) -> None:
    fake.recommended_shards = 2
    async with running_bot(ShardBot(), fake) as bot:
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
        assert {g.id for g in bot.guilds} == {g.id for g in fake.guilds}
        assert {g.shard_id for g in bot.guilds} == {0, 1}
