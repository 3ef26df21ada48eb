"""Bot-token routes for channels, channel messages and DMs.

Permissions are enforced from the channel's ``bot_deny`` overwrite: no View
Channel gives 403 / 50001, no Send Messages (or Attach Files for uploads)
403 / 50013, a user with closed DMs 403 / 50007. Deleted messages answer
404 / 10008.
"""

from __future__ import annotations

from . import content, errors, payloads
from .http import Ctx, Reply, RouteDef, route
from .models import (
    ATTACH_FILES,
    DEFAULT_PERMISSIONS,
    DEFAULT_UPLOAD_LIMIT,
    FLAG_EPHEMERAL,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeChannel,
    FakeMessage,
    utcnow,
)

ROUTES: list[RouteDef] = []


def _channel(ctx: Ctx, *needed: int) -> FakeChannel:
    """The channel of the route, after checking the bot has ``needed`` permissions."""
    ch = ctx.fake.channels.get(int(ctx.params["channel_id"]))
    if ch is None:
        raise errors.unknown_channel()
    perms = _bot_permissions(ctx, ch)
    if not perms & VIEW_CHANNEL:
        raise errors.missing_access()
    for bit in needed:
        if not perms & bit:
            raise errors.missing_permissions()
    return ch


def _bot_permissions(ctx: Ctx, ch: FakeChannel) -> int:
    guild = ctx.fake.find_guild(ch.guild_id) if ch.guild_id else None
    if guild is None:
        return DEFAULT_PERMISSIONS
    return guild.member_permissions(ctx.fake.bot_user, ch)


def _message(ctx: Ctx, ch: FakeChannel) -> FakeMessage:
    msg = ctx.fake.messages.get(int(ctx.params["message_id"]))
    # Ephemeral messages exist only for their user: the channel routes never see them.
    if msg is None or msg.deleted or msg.channel_id != ch.id or msg.ephemeral:
        raise errors.unknown_message()
    return msg


def _upload_limit(ctx: Ctx, ch: FakeChannel) -> int:
    guild = ctx.fake.find_guild(ch.guild_id) if ch.guild_id else None
    return guild.upload_limit if guild else DEFAULT_UPLOAD_LIMIT


@route(ROUTES, "GET", "/channels/{channel_id}")
async def get_channel(ctx: Ctx) -> Reply:
    """A channel object."""
    return Reply(payloads.channel(_channel(ctx), ctx.fake.bot_user))


@route(ROUTES, "POST", "/channels/{channel_id}/messages")
async def create_message(ctx: Ctx) -> Reply:
    """Post a message (JSON or multipart with files)."""
    ch = _channel(ctx, SEND_MESSAGES, *([ATTACH_FILES] if ctx.files else []))
    if ch.type == 1 and ch.recipient is not None and not ch.recipient.dms_open:
        raise errors.cannot_dm()
    fake = ctx.fake
    msg = fake.new_message(ch, fake.bot_user)
    content.apply(
        fake, msg, ctx.json, ctx.files, creating=True, upload_limit=_upload_limit(ctx, ch)
    )
    # Only interaction responses can be ephemeral.
    msg.flags &= ~FLAG_EPHEMERAL
    msg.snapshot("bot")
    await fake.publish(msg)
    return Reply(payloads.message(fake, msg))


@route(ROUTES, "GET", "/channels/{channel_id}/messages")
async def list_messages(ctx: Ctx) -> Reply:
    """Channel history, newest first (``limit`` honoured, paging params ignored)."""
    ch = _channel(ctx, READ_MESSAGE_HISTORY)
    limit = int(ctx.query.get("limit", "50"))
    visible = [m for m in reversed(ch.messages) if not m.deleted][:limit]
    return Reply([payloads.message(ctx.fake, m) for m in visible])


@route(ROUTES, "GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(ctx: Ctx) -> Reply:
    """One message."""
    ch = _channel(ctx, READ_MESSAGE_HISTORY)
    return Reply(payloads.message(ctx.fake, _message(ctx, ch)))


@route(ROUTES, "PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(ctx: Ctx) -> Reply:
    """Edit one of the bot's messages, including its public interaction responses."""
    ch = _channel(ctx)
    msg = _message(ctx, ch)
    if msg.author.id != ctx.fake.bot_user.id:
        raise errors.cannot_edit_others()
    if ctx.files:
        _channel(ctx, ATTACH_FILES)
    content.apply(
        ctx.fake, msg, ctx.json, ctx.files, creating=False, upload_limit=_upload_limit(ctx, ch)
    )
    msg.edited_at = utcnow()
    msg.snapshot("bot")
    await ctx.fake.publish(msg, edited=True)
    return Reply(payloads.message(ctx.fake, msg))


@route(ROUTES, "DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(ctx: Ctx) -> Reply:
    """Delete a message: the bot's own, or anyone's with Manage Messages."""
    ch = _channel(ctx)
    msg = _message(ctx, ch)
    if msg.author.id != ctx.fake.bot_user.id:
        _channel(ctx, MANAGE_MESSAGES)
    await ctx.fake.delete_message(msg)
    return Reply(None)


@route(ROUTES, "POST", "/users/@me/channels")
async def open_dm(ctx: Ctx) -> Reply:
    """Open (or return) the DM channel with ``recipient_id``."""
    body = ctx.json if isinstance(ctx.json, dict) else {}
    target = ctx.fake.find_user(int(body.get("recipient_id", 0)))
    if target is None:
        raise errors.ApiError(400, 50035, "Invalid Form Body")
    ch = ctx.fake.dm_channel(target)
    return Reply(payloads.channel(ch, ctx.fake.bot_user))


@route(ROUTES, "GET", "/users/{user_id}")
async def get_user(ctx: Ctx) -> Reply:
    """``GET /users/@me`` (which is also how discord.py logs in) or another user."""
    fake = ctx.fake
    raw = ctx.params["user_id"]
    target = fake.bot_user if raw == "@me" else fake.find_user(int(raw) if raw.isdigit() else 0)
    if target is None:
        raise errors.ApiError(404, 10013, "Unknown User")
    return Reply(payloads.user(target))
