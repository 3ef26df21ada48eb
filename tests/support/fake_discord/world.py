"""The fake's population: the bot, its owner, users, guilds, channels and messages.

A fresh fake has one guild ("Fake Guild") owned by ``owner`` with a text
channel ``#general`` and a member ``user`` ("alice"), so most tests need no
setup. Add more before the bot connects: GUILD_CREATE is sent at IDENTIFY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import FakeChannel, FakeGuild, FakeMessage, FakeRole, FakeUser

if TYPE_CHECKING:
    from .models import Snowflakes


class World:
    """Users, guilds and channels; mixed into ``FakeDiscord``."""

    ids: Snowflakes
    application_id: int

    def __init__(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.guilds: list[FakeGuild] = []
        self.channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, FakeMessage] = {}
        # The bot user's id is the application id, as for every modern app.
        self.bot_user = FakeUser(self.application_id, "Fake Bot", bot=True)
        self.users[self.bot_user.id] = self.bot_user
        self.owner = self.add_user("owner")
        self.user = self.add_user("alice")
        self.guild = self.add_guild("Fake Guild", owner=self.owner)
        self.guild.members.append(self.user)
        self.channel = self.guild.channels[0]

    def add_user(self, name: str, *, dms_open: bool = True) -> FakeUser:
        """A new (human) user."""
        user = FakeUser(self.ids.next(), name, global_name=name.title(), dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, *, owner: FakeUser | None = None, shard: tuple[int, int] | None = None
    ) -> FakeGuild:
        """A new guild with the bot in it and a ``#general`` channel.

        ``shard=(shard_id, shard_count)`` picks an id whose events Discord sends
        on that shard (default: whichever the current time gives).
        """
        guild = FakeGuild(
            id=self.ids.next() if shard is None else self.ids.on_shard(*shard),
            name=name,
            owner=owner or self.owner,
            bot_role_id=self.ids.next(),
        )
        guild.members.append(self.bot_user)
        self.guilds.append(guild)
        self.add_channel("general", guild)
        return guild

    def add_channel(
        self, name: str, guild: FakeGuild | None = None, *, bot_deny: int = 0
    ) -> FakeChannel:
        """A new text channel; ``bot_deny`` removes permissions from the bot there."""
        target = guild or self.guild
        channel = FakeChannel(
            id=self.ids.next(),
            name=name,
            guild_id=target.id,
            position=len(target.channels),
            bot_deny=bot_deny,
        )
        target.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    def add_role(
        self, name: str, guild: FakeGuild | None = None, *, permissions: int = 0
    ) -> FakeRole:
        """A new role in ``guild`` (default: the fake's guild); add it before the bot connects."""
        target = guild or self.guild
        role = FakeRole(self.ids.next(), name, permissions, position=len(target.roles) + 2)
        target.roles.append(role)
        return role

    def give_role(self, user: FakeUser, role: FakeRole, guild: FakeGuild | None = None) -> None:
        """Make ``user`` a member of ``guild`` (if needed) with ``role``."""
        target = guild or self.guild
        if all(m.id != user.id for m in target.members):
            target.members.append(user)
        target.member_roles.setdefault(user.id, []).append(role.id)

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The bot's DM channel with ``user`` (created on first use)."""
        for channel in self.channels.values():
            if channel.type == 1 and channel.recipient is user:
                return channel
        channel = FakeChannel(id=self.ids.next(), name="", guild_id=None, type=1, recipient=user)
        self.channels[channel.id] = channel
        return channel

    def find_user(self, user_id: int) -> FakeUser | None:
        """A user by id."""
        return self.users.get(user_id)

    def in_guild(self, guild: FakeGuild) -> bool:
        """Whether the bot is a member of ``guild`` (until it leaves it)."""
        return any(m.id == self.bot_user.id for m in guild.members)

    def find_guild(self, guild_id: int | None) -> FakeGuild | None:
        """A guild by id."""
        return next((g for g in self.guilds if g.id == guild_id), None)
