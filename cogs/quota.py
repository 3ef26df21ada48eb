"""`/quota`: a member's used and remaining credits, and when they reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import member_locale
from bot.jobs.admission import standing
from bot.jobs.member import role_ids
from bot.ui.text import quota_message

if TYPE_CHECKING:
    from bot.app import SoraBot


class QuotaCog(commands.Cog):
    """The `/quota` command."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=locale_str("quota"),
        description=locale_str("See how many videos you can still make today"),
    )
    async def quota(self, interaction: discord.Interaction) -> None:
        """Answer ephemerally with the member's usage."""
        now = await standing(
            self.bot.store,
            self.bot.settings,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            role_ids=role_ids(interaction),
        )
        usage = now.usage
        text = quota_message(
            usage.used,
            usage.limit,
            now.running,
            usage.resets_at,
            extra=now.extra,
            blocked=now.blocked,
            locale=member_locale(interaction),
        )
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(QuotaCog(bot))
