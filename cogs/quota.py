"""`/quota`: a member's used and remaining credits, and when they reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.messages import quota_message

if TYPE_CHECKING:
    from bot.bot import SoraBot


class QuotaCog(commands.Cog):
    """The `/quota` command."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="See how many videos you can still make today")
    async def quota(self, interaction: discord.Interaction) -> None:
        """Answer ephemerally with the member's usage."""
        store = self.bot.store
        usage = await store.usage(interaction.user.id, self.bot.settings.quota_per_day)
        running = await store.running_count(interaction.user.id)
        await interaction.response.send_message(
            quota_message(usage.used, usage.limit, running, usage.resets_at), ephemeral=True
        )


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(QuotaCog(bot))
