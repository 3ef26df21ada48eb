"""Bot-token routes about the application itself: login, gateway URL, commands, leaving guilds."""

from __future__ import annotations

from . import errors, payloads
from .gateway import INTENT_GUILDS
from .http import Ctx, Reply, RouteDef, route

ROUTES: list[RouteDef] = []


def _check_app(ctx: Ctx) -> None:
    if ctx.params["app_id"] != str(ctx.fake.application_id):
        raise errors.ApiError(403, 50001, "Missing Access")


def _guild_id(ctx: Ctx) -> int:
    guild = ctx.fake.find_guild(int(ctx.params["guild_id"]))
    if guild is None:
        raise errors.ApiError(403, 50001, "Missing Access")
    return guild.id


@route(ROUTES, "GET", "/oauth2/applications/@me")
async def application_info(ctx: Ctx) -> Reply:
    """What ``Client.login`` reads after ``GET /users/@me``."""
    return Reply(payloads.application(ctx.fake))


@route(ROUTES, "GET", "/gateway", bot_auth=False)
async def gateway(ctx: Ctx) -> Reply:
    """The gateway URL (no auth on Discord either)."""
    return Reply({"url": ctx.fake.gateway_url})


@route(ROUTES, "GET", "/gateway/bot")
async def gateway_bot(ctx: Ctx) -> Reply:
    """What ``AutoShardedClient`` asks for: URL, recommended shard count, session start limit."""
    limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
    fake = ctx.fake
    return Reply(
        {"url": fake.gateway_url, "shards": fake.recommended_shards, "session_start_limit": limit}
    )


@route(ROUTES, "GET", "/applications/{app_id}/commands")
async def list_global(ctx: Ctx) -> Reply:
    """Global commands."""
    _check_app(ctx)
    return Reply(ctx.fake.commands.registered(None))


@route(ROUTES, "PUT", "/applications/{app_id}/commands")
async def sync_global(ctx: Ctx) -> Reply:
    """Bulk overwrite of global commands (``tree.sync()``)."""
    _check_app(ctx)
    return Reply(ctx.fake.commands.replace(None, ctx.json))


@route(ROUTES, "GET", "/applications/{app_id}/guilds/{guild_id}/commands")
async def list_guild(ctx: Ctx) -> Reply:
    """Guild commands."""
    _check_app(ctx)
    return Reply(ctx.fake.commands.registered(_guild_id(ctx)))


@route(ROUTES, "PUT", "/applications/{app_id}/guilds/{guild_id}/commands")
async def sync_guild(ctx: Ctx) -> Reply:
    """Bulk overwrite of a guild's commands (``tree.sync(guild=...)``)."""
    _check_app(ctx)
    return Reply(ctx.fake.commands.replace(_guild_id(ctx), ctx.json))


@route(ROUTES, "DELETE", "/users/@me/guilds/{guild_id}")
async def leave_guild(ctx: Ctx) -> Reply:
    """The bot leaves a guild (``Guild.leave``): 204, then GUILD_DELETE without ``unavailable``.

    A guild the bot is not in answers 404 / 10004, as Discord does.
    """
    fake = ctx.fake
    guild = fake.find_guild(int(ctx.params["guild_id"]))
    if guild is None or not fake.in_guild(guild):
        raise errors.ApiError(404, 10004, "Unknown Guild")
    guild.members = [m for m in guild.members if m.id != fake.bot_user.id]
    await fake.gateway.dispatch(
        "GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id, intent=INTENT_GUILDS
    )
    return Reply(None)
