"""`/video`: check cheaply, reserve a credit, defer publicly, hand the job to the service.

The command's choices (durations, models, HD) come from the configured
provider's capabilities, so members are only offered what will work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.jobs import JobRequest
from bot.providers.base import Orientation
from bot.validation import UserError, check_attachment, check_options, check_prompt

if TYPE_CHECKING:
    from bot.bot import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
UPLOAD_HEADROOM = 64 * 1024  # the multipart envelope and message payload share the limit


class InteractionOutput:
    """A job's message as the interaction's original response (edited via its webhook)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.upload_limit = max(0, interaction.filesize_limit - UPLOAD_HEADROOM)

    async def edit(self, content: str) -> None:
        """Replace the progress text."""
        await self.interaction.edit_original_response(content=content, allowed_mentions=NO_MENTIONS)

    async def finish(self, content: str, video: Path | None) -> None:
        """The final message; falls back to the link alone when Discord refuses the upload."""
        if video is not None:
            try:
                await self.interaction.edit_original_response(
                    content=content,
                    attachments=[discord.File(video, filename=video.name)],
                    allowed_mentions=NO_MENTIONS,
                )
                return
            except discord.HTTPException as exc:
                if exc.status != 413 and exc.code != 40005:
                    raise
                log.info("upload refused as too large; sending the link only")
        await self.interaction.edit_original_response(
            content=content, attachments=[], allowed_mentions=NO_MENTIONS
        )


class VideoCog(commands.Cog):
    """The `/video` command."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self.command = self._build_command()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)

    def _build_command(self) -> app_commands.Command[Any, ..., None]:
        caps = self.bot.provider.capabilities
        durations = [Choice(name=f"{d} seconds", value=d) for d in caps.all_durations][:25]
        models = [Choice(name=m.name, value=m.name) for m in caps.models][:25]
        orientations = [
            Choice(name="portrait (9:16)", value="portrait"),
            Choice(name="landscape (16:9)", value="landscape"),
        ]
        cog = self

        @app_commands.command(
            name="video", description="Turn an image and a prompt into a short video"
        )
        @app_commands.describe(
            image="The picture to animate (PNG, JPEG, WebP or GIF)",
            prompt="What should happen in the video",
            duration="Length of the video",
            orientation="Portrait or landscape (default portrait)",
            model="Which video model to use",
            hd="Higher resolution, on models that support it",
        )
        @app_commands.choices(duration=durations)
        @app_commands.choices(orientation=orientations, model=models)
        @app_commands.guild_only()
        async def video(
            interaction: discord.Interaction,
            image: discord.Attachment,
            prompt: str,
            duration: int | None = None,
            orientation: str = "portrait",
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
        orientation: str,
        model: str | None,
        hd: bool,
    ) -> None:
        """Validate, reserve, defer, start. Every refusal is ephemeral and costs nothing."""
        settings = self.bot.settings
        try:
            if not self.bot.accepting:
                raise UserError("The bot is restarting. Please try again in a minute.")
            check_attachment(
                filename=image.filename,
                content_type=image.content_type,
                size=image.size,
                width=image.width,
                height=image.height,
                max_bytes=settings.provider.image_max_bytes,
            )
            text = check_prompt(prompt, settings.prompt_max_length)
            side: Orientation = "landscape" if orientation == "landscape" else "portrait"
            spec, seconds = check_options(
                self.bot.provider.capabilities,
                model=model,
                duration=duration,
                orientation=side,
                hd=hd,
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
            job = await self.bot.jobs.accept(request)
        except UserError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning("job %s: could not defer (%s); refunding", job.id, exc)
            await self.bot.jobs.refund(job, "Discord did not accept the reply in time.")
            return
        log.info("job %s accepted for user %s", job.id, interaction.user.id)
        self.bot.jobs.start(job, request, InteractionOutput(interaction))


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(VideoCog(bot))
