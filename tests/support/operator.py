"""Helpers for the operator's-toolkit tests: admin commands and answers through the fake."""

from __future__ import annotations

from typing import Any

from tests.support.fake_discord import FakeChannel, FakeInteraction, FakeUser
from tests.support.harness import App, photo_bytes

DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the answer comes as a follow-up


async def answer(app: App, ix: FakeInteraction) -> str:
    """The text of the (ephemeral) answer to ``ix``: its first response, or the follow-up
    that completes a deferred one."""
    await app.discord.wait_for(lambda: ix.callback is not None)
    assert ix.callback is not None
    assert ix.callback.ephemeral, ix.callback.data
    if ix.callback.type != DEFERRED:
        return str(ix.callback.data.get("content", ""))
    await app.discord.wait_for(lambda: bool(ix.followups))
    followup = ix.followups[0]
    assert followup.ephemeral
    return followup.content


async def admin(app: App, command: str, user: FakeUser | None = None, **options: Any) -> str:
    """Run ``/video-admin <command>`` as ``user`` (default: the guild's owner); its answer."""
    ix = await app.discord.slash(f"video-admin {command}", options, user=user or app.discord.owner)
    return await answer(app, ix)


async def video(
    app: App, user: FakeUser | None = None, channel: FakeChannel | None = None, **options: Any
) -> FakeInteraction:
    """``/video`` with a photo, optionally in another channel."""
    options.setdefault("image", app.discord.upload(photo_bytes((900, 900), "PNG"), "sq.png"))
    options.setdefault("prompt", "the leaves start to move")
    return await app.discord.slash("video", options, user=user, channel=channel)


async def refused(app: App, ix: FakeInteraction) -> str:
    """The refusal of a `/video`: ephemeral, not deferred; its text."""
    text = await answer(app, ix)
    assert not ix.deferred
    return text
