"""The fake's world: users, guilds, channels, messages and interactions.

Plain dataclasses that the REST and gateway layers mutate and that tests read.
Serialisation to Discord's JSON lives in ``payloads.py`` so that these stay
small and easy to inspect in a failing assertion.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits the fake reasons about (Discord's numbering).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def snowflake_time(snowflake: int) -> dt.datetime:
    """Return the creation time encoded in a snowflake."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


class Snowflakes:
    """Hands out unique snowflakes, optionally stamped with a past time.

    The low 22 bits are a counter, so ids minted at the same millisecond (or
    for the same old timestamp) still differ and still sort in minting order.
    """

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self, at: dt.datetime | None = None) -> int:
        """Mint a snowflake whose timestamp is ``at`` (default: now)."""
        moment = at or utcnow()
        ms = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & ((1 << 22) - 1))

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """Mint a guild id that Discord routes to shard ``shard_id`` of ``shard_count``.

        A guild's shard is ``(guild_id >> 22) % shard_count``: the id's
        millisecond timestamp decides it, so the id is stamped a few
        milliseconds in the past to land on the asked shard.
        """
        if not 0 <= shard_id < shard_count:
            raise ValueError(f"shard {shard_id} is not one of {shard_count} shard(s)")
        ms = int(utcnow().timestamp() * 1000) - DISCORD_EPOCH_MS
        ms -= (ms - shard_id) % shard_count
        return (ms << 22) | (next(self._counter) & ((1 << 22) - 1))


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events on; DMs (no guild) go to shard 0.

    https://discord.com/developers/docs/topics/gateway#sharding
    """
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


@dataclass
class FakeUser:
    """A Discord user; ``bot`` marks the application's own bot user."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True  # False makes DMs to this user fail with 50007


@dataclass
class FakeChannel:
    """A guild text channel or a DM channel.

    ``bot_deny`` is a permission overwrite against the bot member: it is sent
    in GUILD_CREATE (so discord.py's cache sees it) and enforced by REST.
    """

    id: int
    name: str
    guild_id: int | None
    type: int = 0  # 0 guild text, 1 DM
    position: int = 0
    bot_deny: int = 0
    recipient: FakeUser | None = None
    messages: list[FakeMessage] = field(default_factory=list, repr=False)


@dataclass
class FakeRole:
    """A guild role; members given it (``World.give_role``) get its ``permissions``."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1


@dataclass
class FakeGuild:
    """A guild with its channels and members; the owner has every permission."""

    id: int
    name: str
    owner: FakeUser
    bot_role_id: int
    members: list[FakeUser] = field(default_factory=list, repr=False)
    channels: list[FakeChannel] = field(default_factory=list, repr=False)
    everyone_permissions: int = DEFAULT_PERMISSIONS
    bot_permissions: int = DEFAULT_PERMISSIONS
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    joined_at: dt.datetime = field(default_factory=utcnow)
    roles: list[FakeRole] = field(default_factory=list, repr=False)  # besides the two built-in
    member_roles: dict[int, list[int]] = field(default_factory=dict, repr=False)
    locale: str = "en-US"  # the server's preferred locale (Community settings)

    def roles_of(self, user: FakeUser) -> list[FakeRole]:
        """The roles given to ``user`` (not @everyone or the bot's managed role)."""
        ids = set(self.member_roles.get(user.id, ()))
        return [role for role in self.roles if role.id in ids]

    def member_permissions(self, user: FakeUser, channel: FakeChannel | None = None) -> int:
        """Resolve a member's permissions in ``channel`` the way Discord does (simplified)."""
        if user.id == self.owner.id:
            return ALL_PERMISSIONS
        perms = self.everyone_permissions
        for role in self.roles_of(user):
            perms |= role.permissions
        if user.bot:
            perms |= self.bot_permissions
            if channel is not None:
                perms &= ~channel.bot_deny
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms


@dataclass
class StoredFile:
    """An uploaded or registered file: what a test asserts on for uploads."""

    id: int
    filename: str
    data: bytes = field(repr=False)
    content_type: str | None
    url: str
    width: int | None = None
    height: int | None = None
    description: str | None = None
    ephemeral: bool = False
    upload_content_type: str | None = None  # the multipart part's own header

    @property
    def size(self) -> int:
        """Size in bytes, as Discord reports it."""
        return len(self.data)


@dataclass
class Revision:
    """One state of a message: its creation or one edit, with when it happened."""

    at: float  # time.monotonic()
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[str]
    flags: int
    via: str  # "bot" (bot token) or "webhook" (interaction token)


@dataclass
class FakeMessage:
    """A message as the fake stores it; ``history`` holds every revision."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredFile] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    tts: bool = False
    allowed_mentions: dict[str, Any] | None = None
    mention_everyone: bool = False
    mention_ids: list[int] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    interaction: FakeInteraction | None = field(default=None, repr=False)
    edited_at: dt.datetime | None = None
    deleted: bool = False
    history: list[Revision] = field(default_factory=list, repr=False)

    @property
    def created_at(self) -> dt.datetime:
        """Creation time, from the id like Discord."""
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user can see this message."""
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Whether this is still a deferred "thinking..." message."""
        return bool(self.flags & FLAG_LOADING)

    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, nested ones included."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                walk(item.get("components", []))
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def snapshot(self, via: str) -> None:
        """Append the current state to ``history``."""
        self.history.append(
            Revision(
                at=time.monotonic(),
                content=self.content,
                embeds=list(self.embeds),
                components=list(self.components),
                attachments=[a.filename for a in self.attachments],
                flags=self.flags,
                via=via,
            )
        )


@dataclass
class Callback:
    """The interaction's initial response (``POST .../callback``)."""

    type: int
    data: dict[str, Any]
    at: float  # time.monotonic()

    @property
    def ephemeral(self) -> bool:
        """Whether the response was flagged ephemeral (flag 64)."""
        return bool(int(self.data.get("flags") or 0) & FLAG_EPHEMERAL)


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot did with it."""

    id: int
    token: str
    type: int  # 2 application command, 3 component
    user: FakeUser
    guild: FakeGuild | None
    channel: FakeChannel
    payload: dict[str, Any] = field(repr=False)
    dispatched_at: float  # time.monotonic(), for the 3 s callback deadline
    message: FakeMessage | None = field(default=None, repr=False)  # the clicked one
    callback: Callback | None = None
    original: FakeMessage | None = field(default=None, repr=False)
    followups: list[FakeMessage] = field(default_factory=list, repr=False)
    token_revoked: bool = False  # set by FakeDiscord.expire_token()
    edit_base: int = 1  # index in original.history where this interaction's edits start

    @property
    def created_at(self) -> dt.datetime:
        """Creation time, from the id: discord.py computes expiry from this."""
        return snowflake_time(self.id)

    @property
    def expires_at(self) -> dt.datetime:
        """When the interaction token stops working (15 minutes after creation)."""
        return self.created_at + dt.timedelta(minutes=15)

    def token_valid(self) -> bool:
        """Whether webhook calls with this token are still accepted."""
        return not self.token_revoked and utcnow() < self.expires_at

    @property
    def ephemeral(self) -> bool:
        """Whether the response message is ephemeral (for 6/7: the clicked message's state)."""
        if self.original is not None:
            return self.original.ephemeral
        return self.callback is not None and self.callback.ephemeral

    @property
    def deferred(self) -> bool:
        """Whether the initial response was a defer (type 5 or 6)."""
        return self.callback is not None and self.callback.type in (5, 6)

    @property
    def edits(self) -> list[Revision]:
        """Every edit of the original response, oldest first."""
        return [] if self.original is None else self.original.history[self.edit_base :]

    @property
    def content(self) -> str | None:
        """Current content of the original response, if there is one."""
        return None if self.original is None else self.original.content
