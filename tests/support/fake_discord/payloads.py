"""Discord JSON shapes for the fake's models, as the API v10 sends them.

Field sets follow what discord.py 2.7 reads (``Message.__init__``,
``Guild._from_data``, ``Member.__init__``, ``Attachment.__init__``...), plus
the fields Discord always includes so that other consumers see real shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import (
    FakeChannel,
    FakeGuild,
    FakeMessage,
    FakeRole,
    FakeUser,
    StoredFile,
    snowflake_time,
)

if TYPE_CHECKING:
    from .server import FakeDiscord


def iso(moment: Any) -> str | None:
    """Discord's ISO 8601 timestamp format (``+00:00`` offset)."""
    return None if moment is None else moment.isoformat()


def user(u: FakeUser) -> dict[str, Any]:
    """A user object."""
    data: dict[str, Any] = {
        "id": str(u.id),
        "username": u.name,
        "global_name": u.global_name,
        "discriminator": "0",
        "avatar": None,
        "avatar_decoration_data": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if u.bot:
        data.update(bot=True, verified=True, mfa_enabled=False, email=None, locale="en-US")
    return data


def member(guild: FakeGuild, u: FakeUser, channel: FakeChannel | None = None) -> dict[str, Any]:
    """A guild member with ``user``; ``permissions`` is set when ``channel`` is given.

    Discord only includes ``permissions`` in interaction payloads, resolved for
    the interaction's channel.
    """
    data: dict[str, Any] = {
        "user": user(u),
        "roles": [str(guild.bot_role_id)] if u.bot else [str(r.id) for r in guild.roles_of(u)],
        "joined_at": iso(guild.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "nick": None,
        "avatar": None,
        "banner": None,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if channel is not None:
        data["permissions"] = str(guild.member_permissions(u, channel))
    return data


def role(r: FakeRole) -> dict[str, Any]:
    """A role object for one of the guild's added roles."""
    return {
        "id": str(r.id),
        "name": r.name,
        "permissions": str(r.permissions),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "mentionable": False,
        "flags": 0,
        "managed": False,
    }


def roles(guild: FakeGuild, bot_user: FakeUser) -> list[dict[str, Any]]:
    """@everyone (id == guild id), the bot's managed integration role, and added roles."""
    base = {"hoist": False, "icon": None, "unicode_emoji": None, "mentionable": False, "flags": 0}
    colors = {"primary_color": 0, "secondary_color": None, "tertiary_color": None}
    return [*_builtin_roles(guild, bot_user, base, colors), *(role(r) for r in guild.roles)]


def _builtin_roles(
    guild: FakeGuild, bot_user: FakeUser, base: dict[str, Any], colors: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {
            **base,
            "id": str(guild.id),
            "name": "@everyone",
            "permissions": str(guild.everyone_permissions),
            "position": 0,
            "color": 0,
            "colors": colors,
            "managed": False,
        },
        {
            **base,
            "id": str(guild.bot_role_id),
            "name": bot_user.name,
            "permissions": str(guild.bot_permissions),
            "position": 1,
            "color": 0,
            "colors": colors,
            "managed": True,
            "tags": {"bot_id": str(bot_user.id)},
        },
    ]


def channel(ch: FakeChannel, bot_user: FakeUser) -> dict[str, Any]:
    """A guild text channel or DM channel object."""
    last_id = str(ch.messages[-1].id) if ch.messages else None
    if ch.type == 1:
        assert ch.recipient is not None
        return {
            "id": str(ch.id),
            "type": 1,
            "last_message_id": last_id,
            "flags": 0,
            "recipients": [user(ch.recipient)],
        }
    overwrites = []
    if ch.bot_deny:
        overwrites.append(
            {"id": str(bot_user.id), "type": 1, "allow": "0", "deny": str(ch.bot_deny)}
        )
    return {
        "id": str(ch.id),
        "type": ch.type,
        "guild_id": str(ch.guild_id),
        "name": ch.name,
        "position": ch.position,
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": last_id,
        "flags": 0,
        "permission_overwrites": overwrites,
    }


def guild_create(guild: FakeGuild, bot_user: FakeUser) -> dict[str, Any]:
    """A full GUILD_CREATE payload with channels, roles and every member.

    ``member_count`` equals the members sent, so discord.py sees the guild as
    chunked and does not request members.
    """
    members = [guild.owner, *[m for m in guild.members if m.id != guild.owner.id]]
    if all(m.id != bot_user.id for m in members):
        members.append(bot_user)
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner.id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": guild.locale,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": roles(guild, bot_user),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "joined_at": iso(guild.joined_at),
        "members": [member(guild, m) for m in members],
        "channels": [channel(c, bot_user) for c in guild.channels],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "application_id": None,
        "premium_progress_bar_enabled": False,
    }


def attachment(f: StoredFile) -> dict[str, Any]:
    """An attachment object; ``url`` points at the fake's CDN route."""
    data: dict[str, Any] = {
        "id": str(f.id),
        "filename": f.filename,
        "size": f.size,
        "url": f.url,
        "proxy_url": f.url.replace("/attachments/", "/media/attachments/", 1),
        "content_type": f.content_type,
        "flags": 0,
    }
    if f.width is not None and f.height is not None:
        data.update(width=f.width, height=f.height)
    if f.description is not None:
        data["description"] = f.description
    if f.ephemeral:
        data["ephemeral"] = True
    return data


def message(fake: FakeDiscord, msg: FakeMessage) -> dict[str, Any]:
    """A message object as REST responses and gateway events carry it."""
    data: dict[str, Any] = {
        "id": str(msg.id),
        "channel_id": str(msg.channel_id),
        "type": msg.type,
        "content": msg.content,
        "author": user(msg.author),
        "attachments": [attachment(a) for a in msg.attachments],
        "embeds": msg.embeds,
        "components": msg.components,
        "mentions": [user(u) for u in map(fake.find_user, msg.mention_ids) if u is not None],
        "mention_roles": [],
        "mention_everyone": msg.mention_everyone,
        "pinned": False,
        "tts": msg.tts,
        "timestamp": iso(snowflake_time(msg.id)),
        "edited_timestamp": iso(msg.edited_at),
        "flags": msg.flags,
    }
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
        data["application_id"] = str(msg.webhook_id)
    if msg.message_reference is not None:
        data["message_reference"] = msg.message_reference
    ix = msg.interaction
    if ix is not None:
        data["interaction_metadata"] = {
            "id": str(ix.id),
            "type": ix.type,
            "user": user(ix.user),
            "authorizing_integration_owners": ix.payload["authorizing_integration_owners"],
        }
        if ix.type == 2:
            data["interaction_metadata"]["name"] = ix.payload["data"]["name"]
    return data


def application(fake: FakeDiscord) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``."""
    return {
        "id": str(fake.application_id),
        "name": fake.bot_user.name,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": fake.bot_public,
        "bot_require_code_grant": fake.bot_require_code_grant,
        "verify_key": "0" * 64,
        "flags": fake.application_flags,
        "owner": user(fake.owner),
        "team": None,
        "bot": user(fake.bot_user),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "tags": [],
        "approximate_guild_count": len(fake.guilds),
    }
