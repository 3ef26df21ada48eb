"""What a test does as Discord's users and moderators: commands, clicks, deletions.

Mixed into ``FakeDiscord``. Interactions are dispatched over the gateway and
return at once; wait for the bot's reaction with ``fake.wait_for(...)``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from . import content, payloads
from .gateway import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES, INTENT_GUILDS
from .interactions import click_data, new_interaction, slash_data
from .models import (
    SEND_MESSAGES,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    StoredFile,
)

if TYPE_CHECKING:
    from .commands import CommandRegistry
    from .gateway import Gateway
    from .models import Snowflakes
    from .server import FakeDiscord


class Driver:
    """The test's side of Discord: acting as users and moderators."""

    ids: Snowflakes
    application_id: int
    bot_user: FakeUser
    user: FakeUser
    guild: FakeGuild
    channel: FakeChannel
    channels: dict[int, FakeChannel]
    commands: CommandRegistry
    gateway: Gateway
    attachment_size_limit: int
    interactions: list[FakeInteraction]
    interaction_by_id: dict[int, FakeInteraction]
    interaction_by_token: dict[str, FakeInteraction]

    if TYPE_CHECKING:
        # Provided by World and FakeDiscord; declared only for type checkers so
        # that they do not shadow the real ones in the MRO.
        def find_guild(self, guild_id: int | None) -> FakeGuild | None: ...

        async def changed(self) -> None: ...

    @property
    def _fake(self) -> FakeDiscord:
        # Driver is only ever mixed into FakeDiscord.
        return cast("FakeDiscord", self)

    async def delete_message(self, msg: FakeMessage) -> None:
        """Delete a message (as a user or moderator would); later calls get 404 / 10008."""
        msg.deleted = True
        await self.changed()
        if msg.ephemeral:
            return
        data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id:
            data["guild_id"] = str(msg.guild_id)
        intent = INTENT_GUILD_MESSAGES if msg.guild_id else INTENT_DIRECT_MESSAGES
        await self.gateway.dispatch("MESSAGE_DELETE", data, guild_id=msg.guild_id, intent=intent)

    async def join_guild(self, name: str, *, owner: FakeUser | None = None) -> FakeGuild:
        """Someone adds the connected bot to a new guild: GUILD_CREATE as for a join.

        Discord sends a joined guild's GUILD_CREATE without ``unavailable``
        (that flag marks a guild coming back after an outage, or the lazy
        loading after READY); discord.py reports it as ``on_guild_join``.
        """
        guild = self._fake.add_guild(name, owner=owner)
        data = payloads.guild_create(guild, self.bot_user)
        data.pop("unavailable", None)
        await self.gateway.dispatch("GUILD_CREATE", data, guild_id=guild.id, intent=INTENT_GUILDS)
        return guild

    async def forbid_channel(self, channel: FakeChannel, deny: int = SEND_MESSAGES) -> None:
        """Deny the bot ``deny`` (default Send Messages) in ``channel`` and tell the bot."""
        channel.bot_deny = deny
        await self.gateway.dispatch(
            "CHANNEL_UPDATE",
            payloads.channel(channel, self.bot_user),
            guild_id=channel.guild_id,
            intent=INTENT_GUILDS,
        )

    def upload(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        **extra: Any,
    ) -> StoredFile:
        """Register a file on the CDN, to pass as an attachment option of :meth:`slash`.

        ``content_type`` defaults to a guess from the name; images get their
        real ``width``/``height`` (Pillow) unless given in ``extra``.
        """
        return content.store_file(
            self._fake, self.application_id, filename, data, content_type, ephemeral=True, **extra
        )

    def expire_token(self, interaction: FakeInteraction) -> None:
        """Make the interaction's token invalid now (webhook calls get 401 / 50027)."""
        interaction.token_revoked = True

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: FakeUser | None = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        created_at: dt.datetime | None = None,
        locale: str = "en-US",
        attachment_size_limit: int | None = None,
        attachments: dict[str, StoredFile] | None = None,
        validate: bool = True,
    ) -> FakeInteraction:
        """Dispatch a chat-input command the bot registered; returns at once.

        ``options`` maps option names to values: str/int/float/bool, a file
        from :meth:`upload` (attachment), a ``FakeUser`` or ``FakeChannel``;
        ``attachments`` is the same for attachment options, kept apart if preferred.
        ``created_at`` stamps the interaction id with a past time; its token
        then expires 15 minutes after that time. ``validate=False`` skips the
        checks the Discord client does (required options, choices, types).
        """
        if channel is None:
            channel = self.channel if guild is None else guild.channels[0]
        if guild is None and channel.guild_id is not None:
            guild = self.find_guild(channel.guild_id)
        values = {**(options or {}), **(attachments or {})}
        data = slash_data(self._fake, name, values, guild, validate=validate)
        ix = new_interaction(
            self._fake,
            type_=2,
            data=data,
            user=user or self.user,
            guild=guild,
            channel=channel,
            created_at=created_at,
            locale=locale,
            attachment_size_limit=attachment_size_limit,
        )
        return await self._dispatch_interaction(ix)

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user: FakeUser | None = None,
        values: list[str] | None = None,
        created_at: dt.datetime | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch a click on a component of ``message`` (button, or select with ``values``)."""
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted; nobody can click it")
        channel = self.channels[message.channel_id]
        guild = self.find_guild(channel.guild_id) if channel.guild_id else None
        ix = new_interaction(
            self._fake,
            type_=3,
            data=click_data(message, custom_id, values),
            user=user or self.user,
            guild=guild,
            channel=channel,
            created_at=created_at,
            locale=locale,
            attachment_size_limit=None,
            message=message,
        )
        return await self._dispatch_interaction(ix)

    async def _dispatch_interaction(self, ix: FakeInteraction) -> FakeInteraction:
        self.interactions.append(ix)
        self.interaction_by_id[ix.id] = ix
        self.interaction_by_token[ix.token] = ix
        guild_id = ix.payload.get("guild_id")
        where = None if guild_id is None else int(guild_id)
        if not await self.gateway.dispatch("INTERACTION_CREATE", ix.payload, guild_id=where):
            raise RuntimeError("no bot is connected to the fake gateway (for this shard)")
        return ix
