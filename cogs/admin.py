"""`/video-admin`: the operator's and server managers' controls. Every answer is ephemeral.

Discord shows the group only to members with Manage Server (the command's
default permissions; a server can change that in Server Settings > Integrations),
and the cog checks again at run time, letting ``BOT_OWNER_IDS`` through too.
The rules and the answers live in :mod:`bot.admin.service`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.admin.service import AdminService
from bot.errors import AdminOnly, UserError
from bot.i18n import member_locale, msg
from bot.ops.chart import settings_chart
from bot.rules.access import may_manage

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.app import SoraBot

Credits = app_commands.Range[int, 0, 100_000]
Delta = app_commands.Range[int, -100_000, 100_000]


def _guild(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise UserError(msg("This command only works in a server."))
    return interaction.guild_id


def _roles(member: discord.Member | discord.User) -> tuple[int, ...]:
    return tuple(r.id for r in member.roles) if isinstance(member, discord.Member) else ()


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(
    commands.GroupCog,
    group_name=locale_str("video-admin"),
    group_description=locale_str("Limits, credits, blocks, channels, budgets and stats for /video"),
):
    """The `/video-admin` group."""

    channel = app_commands.Group(
        name=locale_str("channel"), description=locale_str("Where /video may be used")
    )
    budget = app_commands.Group(
        name=locale_str("budget"), description=locale_str("This server's daily spending cap")
    )

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self.admin = AdminService(bot.store, bot.settings)
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Managers of the server, and the bot's owners, only."""
        permissions = interaction.permissions if interaction.guild_id is not None else None
        if may_manage(self.bot.settings.owner_ids, interaction.user.id, permissions):
            return True
        raise AdminOnly()

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        """Answer privately (the text is already in the member's language)."""
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def _act(
        self, interaction: discord.Interaction, action: Callable[..., Awaitable[str]], *args: Any
    ) -> None:
        """Run a change in this server as the calling manager and answer with its text."""
        text = await action(
            _guild(interaction), interaction.user.id, *args, locale=member_locale(interaction)
        )
        await self._reply(interaction, text)

    async def _show(
        self, interaction: discord.Interaction, view: Callable[..., Awaitable[str]], *args: Any
    ) -> None:
        """Answer with a read-only view of this server (no acting manager recorded)."""
        text = await view(_guild(interaction), *args, locale=member_locale(interaction))
        await self._reply(interaction, text)

    # ------------------------------------------------------------ members

    @app_commands.command(
        name=locale_str("member-limit"), description=locale_str("Set a member's own daily limit")
    )
    @app_commands.describe(
        member=locale_str("The member"), credits=locale_str("Credits a day; leave empty to remove")
    )
    @app_commands.rename(member=locale_str("member"), credits=locale_str("credits"))
    async def member_limit(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        credits: Credits | None = None,
    ) -> None:
        """Set or remove a member's daily limit (it wins over role and server limits)."""
        await self._act(interaction, self.admin.member_limit, member.id, credits, _roles(member))

    @app_commands.command(
        name=locale_str("credits"), description=locale_str("Give (or take back) extra credits")
    )
    @app_commands.describe(
        member=locale_str("The member"), amount=locale_str("Credits to add; negative to remove")
    )
    @app_commands.rename(member=locale_str("member"), amount=locale_str("amount"))
    async def credits(
        self, interaction: discord.Interaction, member: discord.Member, amount: Delta
    ) -> None:
        """Extra credits are used once the daily ones run out, and do not expire."""
        await self._act(interaction, self.admin.extra_credits, member.id, amount)

    @app_commands.command(
        name=locale_str("reset"),
        description=locale_str("Give a member back the credits they used here today"),
    )
    @app_commands.rename(member=locale_str("member"))
    async def reset(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Give back what the member used today (UTC) on videos made in this server."""
        await self._act(interaction, self.admin.reset, member.id)

    @app_commands.command(
        name=locale_str("block"), description=locale_str("Stop a member from making videos here")
    )
    @app_commands.describe(reason=locale_str("Shown to the member when they try (optional)"))
    @app_commands.rename(member=locale_str("member"), reason=locale_str("reason"))
    async def block(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Block a member in this server."""
        await self._act(interaction, self.admin.block, member.id, True, reason)

    @app_commands.command(
        name=locale_str("unblock"), description=locale_str("Let a blocked member make videos again")
    )
    @app_commands.rename(member=locale_str("member"))
    async def unblock(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Unblock a member in this server."""
        await self._act(interaction, self.admin.block, member.id, False, None)

    @app_commands.command(
        name=locale_str("member"),
        description=locale_str("A member's limit, usage and extra credits"),
    )
    @app_commands.rename(member=locale_str("member"))
    async def member(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Show the limit that applies to a member and why."""
        await self._show(interaction, self.admin.member_info, member.id, _roles(member))

    # ------------------------------------------------------------ server

    @app_commands.command(
        name=locale_str("server-limit"),
        description=locale_str("The daily limit of every member here"),
    )
    @app_commands.describe(credits=locale_str("Credits a day; leave empty for the bot's default"))
    @app_commands.rename(credits=locale_str("credits"))
    async def server_limit(
        self, interaction: discord.Interaction, credits: Credits | None = None
    ) -> None:
        """Set or clear the server's default daily limit."""
        await self._act(interaction, self.admin.server_limit, credits)

    @app_commands.command(
        name=locale_str("role-limit"),
        description=locale_str("The daily limit of members with a role"),
    )
    @app_commands.describe(
        role=locale_str("The role"), credits=locale_str("Credits a day; leave empty to remove")
    )
    @app_commands.rename(role=locale_str("role"), credits=locale_str("credits"))
    async def role_limit(
        self, interaction: discord.Interaction, role: discord.Role, credits: Credits | None = None
    ) -> None:
        """Set or clear a role's limit; the most generous of a member's roles wins."""
        await self._act(interaction, self.admin.role_limit, role.id, credits)

    @app_commands.command(
        name=locale_str("stats"),
        description=locale_str("Jobs, success rate, spend and render time"),
    )
    @app_commands.describe(all_servers=locale_str("Every server the bot is in (bot owners only)"))
    @app_commands.rename(all_servers=locale_str("all_servers"))
    async def stats(self, interaction: discord.Interaction, all_servers: bool = False) -> None:
        """Today's and this month's numbers."""
        if all_servers:
            if interaction.user.id not in self.bot.settings.owner_ids:
                raise UserError(msg("Only the bot's owners can see every server's stats."))
            guild_id = None
        else:
            guild_id = _guild(interaction)
        # Drawing the chart takes a second or so: answer Discord first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.admin.stats(guild_id, locale=member_locale(interaction))
        files: list[discord.File] = []
        try:
            png = await settings_chart(self.bot.store, self.bot.settings, guild_id=guild_id)
        except Exception:  # the numbers are still worth sending without their picture
            log.exception("could not draw the stats chart")
        else:
            files.append(discord.File(io.BytesIO(png), filename="spend-30-days.png"))
        await interaction.followup.send(
            text, files=files, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(
        name=locale_str("audit"), description=locale_str("Recent admin actions in this server")
    )
    @app_commands.rename(count=locale_str("count"))
    async def audit(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        """Who changed what, newest first."""
        await self._show(interaction, self.admin.audit, count)

    # ------------------------------------------------------------ channels

    async def _channels(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove", "clear", "list"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        await self._act(interaction, self.admin.channels, action, channel.id if channel else None)

    @channel.command(
        name=locale_str("add"),
        description=locale_str("Allow /video in a channel (and only the listed)"),
    )
    @app_commands.rename(channel=locale_str("channel"))
    async def channel_add(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Add a channel to the allowed list."""
        await self._channels(interaction, "add", channel)

    @channel.command(
        name=locale_str("remove"), description=locale_str("Stop allowing /video in a channel")
    )
    @app_commands.rename(channel=locale_str("channel"))
    async def channel_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Remove a channel from the allowed list."""
        await self._channels(interaction, "remove", channel)

    @channel.command(name=locale_str("list"), description=locale_str("Where /video is allowed"))
    async def channel_list(self, interaction: discord.Interaction) -> None:
        """Show the allowed list."""
        await self._channels(interaction, "list")

    @channel.command(
        name=locale_str("clear"), description=locale_str("Allow /video in every channel again")
    )
    async def channel_clear(self, interaction: discord.Interaction) -> None:
        """Empty the allowed list."""
        await self._channels(interaction, "clear")

    # ------------------------------------------------------------ budget

    @budget.command(
        name=locale_str("set"), description=locale_str("Cap this server's daily spending")
    )
    @app_commands.describe(
        credits=locale_str("Most credits a day for the whole server"),
        money=locale_str("Most estimated money a day, e.g. 20 or 7.50"),
    )
    @app_commands.rename(credits=locale_str("credits"), money=locale_str("money"))
    async def budget_set(
        self,
        interaction: discord.Interaction,
        credits: Credits | None = None,
        money: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        """Set the server's daily caps."""
        await self._act(interaction, self.admin.budget, credits, money)

    @budget.command(
        name=locale_str("clear"),
        description=locale_str("Back to the bot's default cap for servers"),
    )
    async def budget_clear(self, interaction: discord.Interaction) -> None:
        """Remove the server's own caps."""
        await self._act(interaction, self.admin.clear_budget)

    @budget.command(
        name=locale_str("show"), description=locale_str("The cap in force and today's spend")
    )
    async def budget_show(self, interaction: discord.Interaction) -> None:
        """Show the caps and spend."""
        await self._show(interaction, self.admin.budget_text, "")


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(AdminCog(bot))
