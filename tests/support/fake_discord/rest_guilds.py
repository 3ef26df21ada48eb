"""Guild routes: a member of a guild, as ``Guild.fetch_member`` asks for it."""

from __future__ import annotations

from . import errors, payloads
from .http import Ctx, Reply, RouteDef, route

ROUTES: list[RouteDef] = []


@route(ROUTES, "GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(ctx: Ctx) -> Reply:
    """The member with their roles; 10004 for a guild the bot is not in, 10007 for a non-member.

    Members are the users in ``FakeGuild.members`` and the guild's owner
    (``World.give_role`` makes a user a member).
    """
    fake = ctx.fake
    guild = fake.find_guild(int(ctx.params["guild_id"]))
    if guild is None:
        raise errors.ApiError(404, 10004, "Unknown Guild")
    user_id = int(ctx.params["user_id"])
    user = fake.find_user(user_id)
    members = {m.id for m in guild.members} | {guild.owner.id}
    if user is None or user_id not in members:
        raise errors.ApiError(404, 10007, "Unknown Member")
    return Reply(payloads.member(guild, user))
