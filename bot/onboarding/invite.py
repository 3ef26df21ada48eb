"""The invite link: the scopes and the exact permissions the bot needs, defined once.

README's "Set up" lists the same five permissions; ``tests/onboarding`` keeps
the two in step.
"""

from __future__ import annotations

from urllib.parse import urlencode

import discord

# What the bot does in a channel: see it, answer there, show progress embeds,
# upload the finished video, and read the messages it edits or replies to.
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
# "bot" adds the bot user; "applications.commands" lets the server use its slash commands.
SCOPES = ("bot", "applications.commands")
AUTHORIZE_URL = "https://discord.com/oauth2/authorize"


def invite_url(application_id: int | str) -> str:
    """The link that adds the bot to a server with exactly :data:`BOT_PERMISSIONS`."""
    query = urlencode(
        {
            "client_id": str(application_id),
            "scope": " ".join(SCOPES),
            "permissions": str(BOT_PERMISSIONS.value),
        }
    )
    return f"{AUTHORIZE_URL}?{query}"
