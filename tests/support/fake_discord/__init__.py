"""A faithful fake of Discord on 127.0.0.1 for end-to-end tests of the bot.

The real discord.py client talks to it over real HTTP and a real websocket:

    async with FakeDiscord() as fake:
        bot = MyBot(..., guild_ready_timeout=0.1)
        async with running_bot(bot, fake):
            ix = await fake.slash("video", {"image": fake.upload(png, "cat.png"), "prompt": "hi"})
            await fake.wait_for(lambda: ix.deferred)

See ``server.FakeDiscord`` for the API and ``ratelimit.RateLimits`` for the
switchable rate limits.
"""

from .errors import ApiError
from .harness import patch_discord, running_bot
from .http import RecordedRequest, UploadedFile
from .models import (
    ATTACH_FILES,
    MANAGE_GUILD,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Callback,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeRole,
    FakeUser,
    Revision,
    StoredFile,
)
from .ratelimit import Bucket, RateLimits
from .server import FakeDiscord

__all__ = [
    "ATTACH_FILES",
    "MANAGE_GUILD",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "ApiError",
    "Bucket",
    "Callback",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "RateLimits",
    "RecordedRequest",
    "Revision",
    "StoredFile",
    "UploadedFile",
    "patch_discord",
    "running_bot",
]
