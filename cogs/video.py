"""`/video`: check cheaply, then hand the request to the job service (reserve, answer, start).

The command's choices (durations, models, HD) come from the configured
provider's capabilities, so members are only offered what will work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, locale_str
from discord.ext import commands

from bot.i18n import nmsg
from bot.jobs.checks import check_attachment, check_options, check_prompt
from bot.jobs.request import JobRequest
from bot.providers.base import Orientation

if TYPE_CHECKING:
    from bot.app import SoraBot


class VideoCog(commands.Cog):
    """The `/video` command."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self.command = self._build_command()

    async def cog_load(self) -> None:
        """Add `/video`, built from the providers' current choices."""
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        """Remove `/video`."""
        self.bot.tree.remove_command(self.command.name)

    def rebuild(self) -> None:
        """Build `/video` again from the providers' capabilities (after a catalogue refresh)."""
        self.bot.tree.remove_command(self.command.name)
        self.command = self._build_command()
        self.bot.tree.add_command(self.command)

    def _build_command(self) -> app_commands.Command[Any, ..., None]:
        caps = self.bot.provider.capabilities
        durations = [_seconds(d) for d in caps.all_durations][:25]
        models = [Choice(name=m.name, value=m.name) for m in caps.models][:25]
        # Every name and description is a catalogue message: the tree's translator
        # (bot.i18n.translator) gives Discord their translations when syncing.
        # Only the orientations some model can make (a catalogue may list none in 9:16).
        offered = {side for m in caps.models for side in m.sizes}
        orientations = [
            choice
            for choice in (
                Choice(name=locale_str("portrait (9:16)"), value="portrait"),
                Choice(name=locale_str("landscape (16:9)"), value="landscape"),
            )
            if choice.value in offered
        ]
        cog = self

        @app_commands.command(
            name=locale_str("video"),
            description=locale_str("Turn an image and a prompt into a short video"),
        )
        @app_commands.rename(
            image=locale_str("image"),
            prompt=locale_str("prompt"),
            duration=locale_str("duration"),
            orientation=locale_str("orientation"),
            model=locale_str("model"),
            hd=locale_str("hd"),
        )
        @app_commands.describe(
            image=locale_str("The picture to animate (PNG, JPEG, WebP or GIF)"),
            prompt=locale_str("What should happen in the video"),
            duration=locale_str("Length of the video"),
            orientation=locale_str("Portrait or landscape (default portrait)"),
            model=locale_str("Which video model to use"),
            hd=locale_str("Higher resolution, on models that support it"),
        )
        @app_commands.choices(duration=durations)
        @app_commands.choices(orientation=orientations, model=models)
        @app_commands.guild_only()
        async def video(
            interaction: discord.Interaction,
            image: discord.Attachment,
            prompt: str,
            duration: int | None = None,
            orientation: str | None = None,
            model: str | None = None,
            hd: bool = False,
        ) -> None:
            await cog.video(interaction, image, prompt, duration, orientation, model, hd)

        return video

    async def video(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: str,
        duration: int | None,
        orientation: str | None,
        model: str | None,
        hd: bool,
    ) -> None:
        """Validate, then hand to the job service. Every refusal is ephemeral and costs nothing.

        A refusal is a :class:`~bot.errors.UserError`; the tree's error handler answers it.
        """
        settings = self.bot.settings
        self.bot.jobs.ensure_accepting()
        check_attachment(
            filename=image.filename,
            content_type=image.content_type,
            size=image.size,
            width=image.width,
            height=image.height,
            max_bytes=settings.provider.image_max_bytes,
        )
        text = check_prompt(prompt, settings.prompt_max_length)
        if orientation is None:  # portrait, unless the model can only make landscape
            sizes = self.bot.provider.capabilities.model(model).sizes
            orientation = "landscape" if "portrait" not in sizes and sizes else "portrait"
        side: Orientation = "landscape" if orientation == "landscape" else "portrait"
        spec, seconds = check_options(
            self.bot.provider.capabilities, model=model, duration=duration, orientation=side, hd=hd
        )
        request = JobRequest(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            prompt=text,
            model=spec,
            duration=seconds,
            orientation=side,
            hd=hd,
            image_url=image.url,
            image_size=image.size,
        )
        await self.bot.jobs.launch(interaction, request)


def _seconds(duration: int) -> Choice[int]:
    """A duration choice, named in each language ("4 seconds") through its plural message."""
    message = nmsg("{n} second", "{n} seconds", duration)
    return Choice(name=locale_str(str(message), msg=message), value=duration)


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(VideoCog(bot))
