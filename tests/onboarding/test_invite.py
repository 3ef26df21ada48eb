"""The invite link and README agree on the permissions, defined once in code."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord

from bot.onboarding.invite import BOT_PERMISSIONS, invite_url

README = Path(__file__).resolve().parents[2] / "README.md"
# Discord's names for the flags, as the Developer Portal and README show them.
PORTAL_NAMES = {
    "view_channel": "View Channels",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
}


def test_invite_url_carries_the_application_scopes_and_exact_permissions() -> None:
    url = urlsplit(invite_url(1234567890123))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://discord.com/oauth2/authorize"
    assert query["client_id"] == ["1234567890123"]
    assert query["scope"] == ["bot applications.commands"]
    assert "scope=bot+applications.commands" in url.query
    expected = discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
    )
    assert query["permissions"] == [str(expected.value)] == ["117760"]


def test_readme_lists_exactly_the_permissions_the_link_asks_for() -> None:
    setup = README.read_text(encoding="utf-8").split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert discord.Permissions(**dict.fromkeys(PORTAL_NAMES, True)) == BOT_PERMISSIONS
    for name in PORTAL_NAMES.values():
        assert f"**{name}**" in setup
    assert re.search(rf"\b{BOT_PERMISSIONS.value}\b", setup)
