"""`/video`: check cheaply, reserve a credit, defer publicly, hand the job to the service.

The command's choices (durations, models, HD) come from the configured
provider's capabilities, so members are only offered what will work.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.db import StoreError
from bot.errors import Refusal, UserError
from bot.jobs.checks import check_attachment, check_options, check_prompt
from bot.jobs.member import for_member
from bot.jobs.service import JobRequest
from bot.providers.base import Orientation

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)


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
        except UserError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await self._launch(interaction, request)

    async def _launch(self, interaction: discord.Interaction, request: JobRequest) -> None:
        """Reserve the credit, defer publicly, remember the message, start the job."""
        # Operator's rules (issue 6): roles, thread parent and cost, then admission.
        request = for_member(request, interaction, self.bot.settings.cost_table)
        try:
            job = await self.bot.jobs.accept(request)
        except UserError as exc:
            self.bot.metrics.job_refused(exc.reason if isinstance(exc, Refusal) else "other")
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning("job %s: could not defer (%s); refunding", job.id, exc)
            await self.bot.jobs.refund(job, "Discord did not accept the reply in time.")
            return
        messenger = self.bot.jobs.messenger(job, interaction)
        try:
            message = await interaction.original_response()
        except discord.HTTPException as exc:  # not fatal: the job can still post a new message
            log.warning("job %s: could not read its message id: %s", job.id, exc)
        else:
            messenger.message_id = message.id
            try:
                await self.bot.store.update_job(job.id, message_id=message.id)
            except StoreError as exc:  # only resumability suffers; the job itself runs on
                log.warning("job %s: could not record its message id: %s", job.id, exc)
        log.info("job %s accepted for user %s", job.id, interaction.user.id)
        self.bot.jobs.start(job, request, messenger)

    async def retry(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Retry button: the same image and options as a new job, with the usual checks."""
        job = await self.bot.store.get_job(job_id)
        try:
            if job is None:
                raise UserError("That video no longer exists.")
            if job.user_id != interaction.user.id:
                raise UserError("Only the member who asked for this video can retry it.")
            if job.status not in ("failed", "cancelled"):
                raise UserError("Only a failed or cancelled video can be retried.")
            if not self.bot.accepting:
                raise UserError("The bot is restarting. Please try again in a minute.")
            request = self.bot.jobs.request_from_job(job)
            request = dataclasses.replace(
                request, channel_id=interaction.channel_id or job.channel_id
            )
        except UserError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await self._launch(interaction, request)


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(VideoCog(bot))
