"""Who may manage a server's videos: cancel anyone's job, use `/video-admin`."""

from __future__ import annotations

from collections.abc import Collection

import discord


def may_manage(
    owner_ids: Collection[int], user_id: int, permissions: discord.Permissions | None
) -> bool:
    """The bot's owners (``BOT_OWNER_IDS``) everywhere; otherwise members with Manage Server.

    ``permissions`` are the member's in the channel of the interaction (None
    outside a server, where only owners qualify).
    """
    if user_id in owner_ids:
        return True
    return bool(permissions is not None and permissions.manage_guild)
