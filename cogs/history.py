"""`/history`: a member's recent videos, privately, with Newer/Older buttons.

The buttons are :class:`discord.ui.DynamicItem` items whose ``custom_id`` holds the
member and the page (``history:page:<user>:<offset>``), so they keep working
after the bot restarts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, member_locale, t
from bot.jobs.history import HistoryPage, load_page

if TYPE_CHECKING:
    from bot.app import SoraBot

TITLE = N_("🎞️ Your recent videos")
NEWER = N_("◀ Newer")
OLDER = N_("Older ▶")


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"history:page:(?P<user>\d+):(?P<offset>\d+)",
):
    """Shows another page of a member's history; only that member may use it."""

    def __init__(self, user_id: int, offset: int, *, label: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"history:page:{user_id}:{offset}",
                disabled=disabled,
            )
        )
        self.user_id = user_id
        self.offset = offset

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> HistoryButton:
        """Rebuild the button from a click on it (after a restart too)."""
        label = getattr(item, "label", None) or t(member_locale(interaction), "Page")
        return cls(int(match["user"]), int(match["offset"]), label=label)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Replace the message with the requested page."""
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(
                t(
                    member_locale(interaction),
                    "These buttons belong to another member's history. Use `/history`.",
                ),
                ephemeral=True,
            )
            return
        bot = cast("SoraBot", interaction.client)
        page = await load_page(
            bot.store,
            self.user_id,
            self.offset,
            link_ttl=bot.settings.result_link_ttl,
            locale=member_locale(interaction),
        )
        embed, view = render(page)
        await interaction.response.edit_message(embed=embed, view=view)


def render(page: HistoryPage) -> tuple[discord.Embed, discord.ui.View]:
    """The page's embed and its buttons (disabled where there is nothing more), in its locale."""
    locale = page.locale
    embed = discord.Embed(title=t(locale, TITLE), description=page.text)
    view = discord.ui.View(timeout=None)
    if page.has_newer or page.has_older:
        for offset, label, enabled in (
            (page.newer_offset, NEWER, page.has_newer),
            (page.older_offset, OLDER, page.has_older),
        ):
            view.add_item(
                HistoryButton(page.user_id, offset, label=t(locale, label), disabled=not enabled)
            )
    return embed, view


class HistoryCog(commands.Cog):
    """The `/history` command."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Listen for page buttons, including those sent before a restart."""
        self.bot.add_dynamic_items(HistoryButton)

    async def cog_unload(self) -> None:
        """Stop listening for page buttons."""
        self.bot.remove_dynamic_items(HistoryButton)

    @app_commands.command(
        name=locale_str("history"),
        description=locale_str("Your recent videos, with their links"),
    )
    async def history(self, interaction: discord.Interaction) -> None:
        """Answer privately with the newest page, in the member's language."""
        page = await load_page(
            self.bot.store,
            interaction.user.id,
            0,
            link_ttl=self.bot.settings.result_link_ttl,
            locale=member_locale(interaction),
        )
        embed, view = render(page)
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(HistoryCog(bot))
