"""Wire-level tests of the fake Discord with a raw aiohttp client (no discord.py bot).

They pin the protocol details the bot relies on indirectly: zlib-stream
gateway frames, the INTERACTION_CREATE payload shape, callback and webhook
answers, error codes and rate limit headers.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord.utils
import pytest

from tests.support.fake_discord import Bucket, FakeDiscord


class RawGateway:
    """A minimal gateway client: zlib-stream decoding and IDENTIFY."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._inflate = zlib.decompressobj()

    async def receive(self) -> dict[str, Any]:
        """Next frame, decompressed."""
        msg = await self.ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        assert msg.data.endswith(b"\x00\x00\xff\xff")  # every frame ends in Z_SYNC_FLUSH
        return json.loads(self._inflate.decompress(msg.data))

    async def next_event(self, name: str) -> dict[str, Any]:
        """Skip frames until the dispatch ``name``; return its ``d``."""
        while True:
            frame = await self.receive()
            if frame.get("t") == name:
                return frame["d"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one registered guild command, /video."""
    async with FakeDiscord() as server:
        server.commands.replace(server.guild.id, [VIDEO])
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def gateway(fake: FakeDiscord, http: aiohttp.ClientSession) -> AsyncIterator[RawGateway]:
    """A raw client that completed HELLO, heartbeat and IDENTIFY."""
    async with http.ws_connect(fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
        raw = RawGateway(ws)
        hello = await raw.receive()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 1, "d": None})
        assert (await raw.receive())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 513, "properties": {}}})
        yield raw


VIDEO = {
    "name": "video",
    "description": "Make a video",
    "options": [
        {"type": 11, "name": "image", "description": "Start frame", "required": True},
        {"type": 3, "name": "prompt", "description": "What happens", "required": True},
        {
            "type": 4,
            "name": "duration",
            "description": "Seconds",
            "choices": [{"name": "4 s", "value": 4}, {"name": "8 s", "value": 8}],
        },
    ],
}


async def test_ready_guild_create_and_interaction_shape(
    fake: FakeDiscord, gateway: RawGateway
) -> None:
    ready = await gateway.next_event("READY")
    assert ready["user"]["id"] == str(fake.bot_user.id) and ready["user"]["bot"] is True
    assert ready["application"] == {"id": str(fake.application_id), "flags": 0}
    assert ready["resume_gateway_url"] == fake.gateway_url
    assert ready["guilds"] == [{"id": str(fake.guild.id), "unavailable": True}]
    guild = await gateway.next_event("GUILD_CREATE")
    assert {m["user"]["id"] for m in guild["members"]} >= {
        str(fake.owner.id),
        str(fake.bot_user.id),
    }
    assert guild["channels"][0]["id"] == str(fake.channel.id)

    image = fake.upload(b"\x89PNG not really", "cat photo.png", "image/png")
    old = discord.utils.utcnow() - dt.timedelta(minutes=16)
    ix = await fake.slash("video", {"image": image, "prompt": "run", "duration": 8}, created_at=old)
    event = await gateway.next_event("INTERACTION_CREATE")
    assert event["id"] == str(ix.id) and event["type"] == 2 and event["version"] == 1
    assert abs(discord.utils.snowflake_time(ix.id) - old) < dt.timedelta(seconds=1)
    data = event["data"]
    assert (data["name"], data["type"], data["guild_id"]) == ("video", 1, str(fake.guild.id))
    assert data["id"] == fake.commands.registered(fake.guild.id)[0]["id"]
    assert [(o["name"], o["type"], o["value"]) for o in data["options"]] == [
        ("image", 11, str(image.id)),
        ("prompt", 3, "run"),
        ("duration", 4, 8),
    ]
    attachment = data["resolved"]["attachments"][str(image.id)]
    assert attachment["filename"] == "cat_photo.png" and attachment["size"] == image.size
    assert event["attachment_size_limit"] == 10 * 1024 * 1024
    assert isinstance(event["member"]["permissions"], str) and event["app_permissions"].isdigit()
    assert event["context"] == 0 and event["authorizing_integration_owners"] == {
        "0": str(fake.guild.id)
    }
    assert event["entitlements"] == [] and event["locale"] == "en-US"


async def test_slash_rejects_what_the_discord_client_would(
    fake: FakeDiscord, gateway: RawGateway
) -> None:
    image = fake.upload(b"x", "a.png")
    with pytest.raises(ValueError, match="must be one of"):
        await fake.slash("video", {"image": image, "prompt": "p", "duration": 5})
    with pytest.raises(ValueError, match="required"):
        await fake.slash("video", {"prompt": "p"})
    with pytest.raises(LookupError):
        await fake.slash("quota")


async def test_callback_webhooks_and_token_expiry(
    fake: FakeDiscord, gateway: RawGateway, http: aiohttp.ClientSession
) -> None:
    ix = await fake.slash("video", {"image": fake.upload(b"x", "a.png"), "prompt": "p"})
    callback = f"{fake.api_base}/interactions/{ix.id}/{ix.token}/callback"
    async with http.post(callback + "?with_response=true", json={"type": 5}) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        body = await resp.json()
    assert body["interaction"]["response_message_loading"] is True
    assert body["resource"]["type"] == 5 and body["resource"]["message"]["flags"] == 128
    async with http.post(callback, json={"type": 4, "data": {"content": "again"}}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 40060)

    original = f"{fake.api_base}/webhooks/{fake.application_id}/{ix.token}/messages/@original"
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"content": "done", "attachments": [{"id": 0}]}))
    form.add_field(
        "files[0]", b"\x00\x01", filename="clip.mp4", content_type="application/octet-stream"
    )
    async with http.patch(original, data=form) as resp:
        message = await resp.json()
    assert message["content"] == "done" and message["flags"] == 0
    assert message["attachments"][0]["content_type"] == "video/mp4"
    assert ix.original is not None and ix.original.attachments[0].data == b"\x00\x01"
    async with http.get(message["attachments"][0]["url"]) as resp:
        assert await resp.read() == b"\x00\x01"

    fake.expire_token(ix)
    async with http.patch(original, json={"content": "late"}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (401, 50027)
    assert [e.content for e in ix.edits] == ["done"]


async def test_late_callback_is_unknown_interaction(
    fake: FakeDiscord, gateway: RawGateway, http: aiohttp.ClientSession
) -> None:
    fake.callback_deadline = 0.0
    ix = await fake.slash("video", {"image": fake.upload(b"x", "a.png"), "prompt": "p"})
    url = f"{fake.api_base}/interactions/{ix.id}/{ix.token}/callback"
    async with http.post(url, json={"type": 5}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (404, 10062)
    assert ix.callback is None


async def test_auth_schema_checks_and_unknown_routes(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    commands = f"{fake.api_base}/applications/{fake.application_id}/commands"
    bad = [{"name": "Video", "description": ""}]
    async with http.put(commands, json=bad, headers=auth) as resp:
        errors = (await resp.json())["errors"]
        assert resp.status == 400 and set(errors["0"]) == {"name", "description"}
    async with http.put(commands, json=[VIDEO]) as resp:
        assert resp.status == 401
    async with http.post(f"{fake.api_base}/nope", headers=auth) as resp:
        assert resp.status == 404
    assert [r.status for r in fake.requests] == [400, 401, 404]
    assert fake.commands.registered() == []


async def test_rate_limit_answer_shape(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    fake.rate_limits.channel_messages = Bucket(limit=1, period=10.0)
    url = f"{fake.api_base}/channels/{fake.channel.id}/messages"
    auth = {"Authorization": f"Bot {fake.token}"}
    async with http.post(url, json={"content": "one"}, headers=auth) as first:
        assert first.headers["X-RateLimit-Remaining"] == "0"
        assert float(first.headers["X-RateLimit-Reset-After"]) > 9
    async with http.post(url, json={"content": "two"}, headers=auth) as second:
        body = await second.json()
        assert second.status == 429 and second.headers["Via"]
        assert second.headers["X-RateLimit-Scope"] == "user"
    assert body["global"] is False and 9 < body["retry_after"] <= 10
    assert [m.content for m in fake.channel_messages()] == ["one"]


async def test_dm_interaction_and_empty_message(
    fake: FakeDiscord, gateway: RawGateway, http: aiohttp.ClientSession
) -> None:
    fake.commands.replace(None, [{"name": "quota", "description": "Credits left"}])
    dm = fake.dm_channel(fake.user)
    ix = await fake.slash("quota", channel=dm)
    event = await gateway.next_event("INTERACTION_CREATE")
    assert "guild_id" not in event and "member" not in event
    assert event["user"]["id"] == str(fake.user.id) and event["context"] == 1
    assert event["channel"]["type"] == 1
    url = f"{fake.api_base}/interactions/{ix.id}/{ix.token}/callback"
    async with http.post(url, json={"type": 4, "data": {"content": ""}}) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, 50006)
    async with http.post(url, json={"type": 4, "data": {"content": "5 left", "flags": 64}}) as resp:
        assert resp.status == 204  # no with_response: Discord answers 204
    assert ix.ephemeral and ix.content == "5 left" and fake.channel_messages(dm) == []
