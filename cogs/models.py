"""What `/video` offers, kept in step with the providers' model catalogues.

At start (before the commands are synced) every provider with a catalogue
(``openrouter``) is read, its prices are learnt, and `/video` is rebuilt from
what the providers list; then again every ``REFRESH_HOURS`` and on
`/video-admin refresh-models` (bot owners only). A model no rule of
``PRICE_PER_SECOND`` names and no catalogue prices is not offered (it would
count as free and slip past the money caps).

Why rebuild the command rather than autocomplete the model option: choices are
checked by Discord and shown without a round trip to the bot, and they change
only when a catalogue does; the bot then syncs again, which costs one request
because ``sync_commands`` syncs only when the commands' hash changed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands, tasks

from bot.config import ConfigError
from bot.i18n import DEFAULT_LOCALE, N_, member_locale, t
from bot.providers.registry import ProviderSet

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

REFRESH_HOURS = 1.0
OWNERS_ONLY = N_("Only the bot's owners (BOT_OWNER_IDS) can refresh the model list.")


async def refresh_offer(bot: SoraBot, *, at_start: bool = False) -> bool:
    """Read the catalogues, learn their prices, withhold unpriced models; True if the offer changed.

    At start, raises :class:`ConfigError` when no model at all can be offered.
    """
    providers: ProviderSet = bot.provider
    before = providers.capabilities
    await providers.refresh()
    prices = bot.settings.price_table
    prices.learn(providers.catalogue_prices())
    listed = [s.name for m in providers.members for s in m.provider.capabilities.models]
    unpriced = prices.unpriced(listed)
    if frozenset(unpriced) != providers.withheld:
        if unpriced:
            log.warning(
                "not offering %s: PRICE_PER_SECOND names no price for them and no catalogue "
                "lists one (add a rule like '%s:0.10' or a '*' default)",
                ", ".join(unpriced),
                unpriced[0],
            )
        providers.withhold(unpriced)
    if not providers.capabilities.models:
        message = "no model can be offered: every model is unpriced (see PRICE_PER_SECOND)"
        if at_start:
            raise ConfigError(message)
        log.error("%s; keeping the previous offer", message)
        providers.withheld = frozenset()
        providers.capabilities = before
        return False
    return providers.capabilities != before


class ModelsCog(commands.Cog):
    """Keeps `/video`'s choices in step with the catalogues; adds `refresh-models`."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self.command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=locale_str("refresh-models"),
            description=locale_str("Read the providers' model lists again (bot owners)"),
            callback=self._refresh_command,
        )

    async def cog_load(self) -> None:
        """Read the catalogues before the commands are synced; start the schedule."""
        if await refresh_offer(self.bot, at_start=True):
            self._rebuild_video()
        group = self.bot.tree.get_command("video-admin")
        if isinstance(group, app_commands.Group):
            group.add_command(self.command, override=True)
        self.schedule.start()

    async def cog_unload(self) -> None:
        """Stop the schedule and take the subcommand away."""
        self.schedule.cancel()
        group = self.bot.tree.get_command("video-admin")
        if isinstance(group, app_commands.Group):
            group.remove_command(self.command.name)

    def _rebuild_video(self) -> None:
        video: Any = self.bot.get_cog("VideoCog")
        if video is not None:
            video.rebuild()

    async def apply(self, locale: str = DEFAULT_LOCALE) -> str:
        """Refresh now; rebuild and re-sync `/video` if its choices changed (in ``locale``)."""
        if not await refresh_offer(self.bot):
            return t(locale, "The model list is unchanged.")
        self._rebuild_video()
        await self.bot.sync_commands()
        names = ", ".join(m.name for m in self.bot.provider.capabilities.models)
        log.info("video models now offered: %s", names)
        return t(locale, "`/video` now offers: {models}.", models=names)

    @tasks.loop(hours=REFRESH_HOURS)
    async def schedule(self) -> None:
        """The hourly refresh (the first run is at start, in :meth:`cog_load`)."""
        if self.schedule.current_loop == 0:
            return
        try:
            await self.apply()
        except Exception:  # a bad refresh must not stop the schedule
            log.exception("refreshing the model list failed")

    async def _refresh_command(self, interaction: discord.Interaction) -> None:
        """`/video-admin refresh-models`: bot owners only."""
        if interaction.user.id not in self.bot.settings.owner_ids:
            locale = member_locale(interaction)
            await interaction.response.send_message(t(locale, OWNERS_ONLY), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        answer = await self.apply(member_locale(interaction))
        await interaction.followup.send(answer, ephemeral=True)


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(ModelsCog(bot))
