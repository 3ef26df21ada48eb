"""Persistent job buttons: the job id lives in the ``custom_id``, so they work after restarts.

``video:cancel:<job>`` on a running job, ``video:retry:<job>`` on a failed one.
The callbacks only route the click; the rules live in the job service and cog.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal, cast

import discord

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

Buttons = Literal["cancel", "retry"] | None


def _bot(interaction: discord.Interaction) -> SoraBot:
    return cast("SoraBot", interaction.client)


def can_manage(interaction: discord.Interaction) -> bool:
    """Whether the clicker may manage the server (and so any member's job)."""
    permissions = getattr(interaction.user, "guild_permissions", None)
    return bool(permissions and permissions.manage_guild)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:cancel:(?P<job>\d+)"
):
    """Stops a running job; only its owner or a server manager may."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.secondary,
                custom_id=f"video:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Ask the job service to cancel, and tell the clicker what happened."""
        message = await _bot(interaction).jobs.cancel(
            self.job_id, by=interaction.user.id, can_manage=can_manage(interaction)
        )
        await interaction.response.send_message(message, ephemeral=True)


class RetryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"video:retry:(?P<job>\d+)"
):
    """Starts a new job with the same image and options (a new credit, the usual checks)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Retry", style=discord.ButtonStyle.primary, custom_id=f"video:retry:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RetryButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the click to the video cog, which runs the usual `/video` flow."""
        cog = _bot(interaction).get_cog("VideoCog")
        if cog is None:
            await interaction.response.send_message("Videos are unavailable.", ephemeral=True)
            return
        await cog.retry(interaction, self.job_id)  # type: ignore[attr-defined]


def job_view(job_id: int, buttons: Buttons) -> discord.ui.View | None:
    """The buttons a job's message shows, or None for none."""
    if buttons is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id) if buttons == "cancel" else RetryButton(job_id))
    return view
