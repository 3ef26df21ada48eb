"""The Discord bot: shards, extensions, command sync, and the one app-command error handler.

The bot is discord.py's ``AutoShardedBot``. Without ``SHARD_COUNT`` it asks
Discord how many shards to open and opens them all in this process. With
``SHARD_COUNT`` and ``SHARD_IDS`` it is one shard cluster of several processes:
it opens only its shards, so Discord sends it only the events of their guilds
(``(guild_id >> 22) % SHARD_COUNT``) and DMs when it holds shard 0. Slash
commands belong to the application, not to a shard, so only the process
holding shard 0 syncs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.config import Settings
from bot.db import Store
from bot.errors import reply_error
from bot.i18n import catalogue_digest, member_locale, t
from bot.i18n.translator import CatalogueTranslator
from bot.jobs.service import JobService
from bot.ops import heartbeat as health
from bot.ops.metrics import Metrics
from bot.ops.server import HealthChecks, WebServer
from bot.providers.base import Provider
from bot.providers.registry import provider_set
from bot.rules.policy import guild_allowed
from bot.ui import admin_text
from bot.ui.buttons import CancelButton, CancelConfirmButton, RetryButton

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.quota", "cogs.admin", "cogs.history", "cogs.models")
COMMAND_HASH_KEY = "command_sync_hash"


class SoraTree(app_commands.CommandTree["SoraBot"]):
    """The command tree with the bot's one error handler."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Turn expected errors into a friendly ephemeral message; log the rest."""
        name = interaction.command and interaction.command.name
        await reply_error(interaction, error, what=f"command {name}")


class SoraBot(commands.AutoShardedBot):
    """Owns the job service; resources (session, store, provider) are owned by ``__main__``.

    It is the :class:`~bot.ui.buttons.JobButtonHandler` of the job buttons.
    It connects the shards of ``settings.shard_ids`` (of ``settings.shard_count``),
    or every shard Discord recommends when those are unset.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: Store,
        provider: Provider,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        metrics = Metrics(settings.currency)
        options.setdefault("http_trace", metrics.http_trace())  # counts Discord's 429s
        if settings.shard_count is not None:
            options.setdefault("shard_count", settings.shard_count)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=SoraTree,
            **options,
        )
        self.settings = settings
        self.session = session
        self.store = store
        # Always a set (one provider is a set of one): failover, catalogues, health.
        self.provider = provider_set(settings, provider)
        metrics.watch_providers(self.provider.health)
        self.jobs = JobService(
            settings=settings,
            store=store,  # shared: each job is held by the lease of one live process
            provider=self.provider,
            session=session,
            client=self,
            on_refused=metrics.job_refused,
        )
        self._heartbeat_path = health.heartbeat_path(settings.database_path)
        metrics.describe_process(self.shard_list)
        self.metrics = metrics
        self.web: WebServer | None = None
        self._refusals: set[asyncio.Task[None]] = set()
        self._install_server_gate()

    async def setup_hook(self) -> None:
        """Load the listed extensions, install the error handler, sync commands if changed."""
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except commands.ExtensionError:
                log.exception("could not load %s", extension)
                raise
        self._warn_if_open()
        self.add_dynamic_items(CancelButton, RetryButton, CancelConfirmButton)
        await self.tree.set_translator(CatalogueTranslator())  # commands in members' languages
        await self.sync_commands()
        self.heartbeat.start()
        await self.jobs.open()
        self.jobs.tasks.spawn(self.jobs.resume_unfinished(), name="resume-unfinished")
        await self.start_web()

    async def start_web(self) -> None:
        """Serve ``/healthz`` and ``/metrics`` when ``HEALTH_PORT`` is set."""
        if self.settings.health_port is None or self.web is not None:
            return
        checks = HealthChecks(
            connected=self.gateway_connected,
            store=self.store,
            session=self.session,
            provider_url=self.settings.provider.base_url,
            provider_timeout=self.settings.health_provider_timeout,
            providers=self.provider.health if len(self.provider.members) > 1 else None,
        )
        self.web = WebServer(
            host=self.settings.health_host,
            port=self.settings.health_port,
            checks=checks,
            metrics=self.metrics,
            store=self.store,
            shards=self.shard_list,
        )
        await self.web.start()

    def shard_list(self) -> list[int]:
        """The shards this process connects (none known before automatic sharding asked)."""
        if self.shard_ids is not None:
            return sorted(self.shard_ids)
        return list(range(self.shard_count or 0))

    def gateway_connected(self) -> bool:
        """Whether the bot is ready with an open gateway connection on each of its shards."""
        shards = self.shards
        return (
            self.is_ready()
            and not self.is_closed()
            and bool(shards)
            and not any(shard.is_closed() for shard in shards.values())
        )

    @tasks.loop(seconds=health.INTERVAL)
    async def heartbeat(self) -> None:
        """Touch the heartbeat file while connected (read by the container health check)."""
        if self.is_ready() and not self.is_closed():
            await asyncio.to_thread(health.beat, self._heartbeat_path)

    def _command_digest(self) -> str:
        payload = {
            "app": self.application_id,
            "guilds": sorted(self.settings.guild_ids),
            "commands": [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()],
            "catalogues": catalogue_digest(),  # a new translation is a change to sync
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync slash commands only when they changed (syncs are rate limited).

        Only the process holding shard 0 syncs (``Settings.syncs_commands``):
        commands are the application's, and clusters syncing at once would
        spend the sync rate limit several times over.
        """
        if not self.settings.syncs_commands:
            log.info("slash commands are synced by the process holding shard 0; not syncing")
            return False
        digest = self._command_digest()
        if not force and await self.store.get_meta(COMMAND_HASH_KEY) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        if self.settings.guild_ids:
            for guild_id in self.settings.guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            log.info("slash commands synced to %d server(s)", len(self.settings.guild_ids))
        else:
            await self.tree.sync()
            log.info("slash commands synced globally (may take up to an hour to appear)")
        await self.store.set_meta(COMMAND_HASH_KEY, digest)
        return True

    async def on_job_cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Cancel button: its member, or whoever may manage the job's server's videos."""
        await self.jobs.cancel_click(interaction, job_id, confirmed=False)

    async def on_job_cancel_confirm(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Cancel of a job already sent to the provider, confirmed: no refund."""
        await self.jobs.cancel_click(interaction, job_id, confirmed=True)

    async def on_job_retry(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Retry button: the usual `/video` flow with the failed job's image and options."""
        await self.jobs.retry(interaction, job_id)

    # ------------------------------------------------------------ allowed servers

    def serves(self, guild_id: int | None) -> bool:
        """Whether the bot serves ``guild_id`` (``ALLOWED_GUILD_IDS``; ``None``: not a server)."""
        return guild_allowed(self.settings.allowed_guild_ids, guild_id)

    def _install_server_gate(self) -> None:
        """Refuse every interaction from a server not served, before discord.py routes it.

        The command tree's ``interaction_check`` would see slash commands only:
        discord.py hands component clicks (the persistent ``DynamicItem``
        buttons) to its view store without it. The INTERACTION_CREATE parser is
        the one place commands, autocomplete, buttons and modals all pass, so
        the gate wraps it. It fails at start, loudly, should discord.py rename it.
        """
        parsers = self._connection.parsers
        route = parsers["INTERACTION_CREATE"]

        def gate(data: dict[str, Any]) -> None:
            raw = data.get("guild_id")
            if self.serves(None if raw is None else int(raw)):
                route(data)
                return
            interaction: discord.Interaction[Any] = discord.Interaction(
                data=data,  # type: ignore[arg-type]
                state=self._connection,
            )
            task = asyncio.create_task(self._refuse_server(interaction), name="refuse-server")
            self._refusals.add(task)
            task.add_done_callback(self._refusals.discard)

        parsers["INTERACTION_CREATE"] = gate

    async def _refuse_server(self, interaction: discord.Interaction) -> None:
        """Answer an interaction from a server not served: no command or button runs."""
        log.warning(
            "refused %s of user %s in server %s: not in ALLOWED_GUILD_IDS",
            interaction.type.name,
            interaction.user.id,
            interaction.guild_id,
        )
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
            else:
                text = t(member_locale(interaction), admin_text.NOT_SERVED)
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning(
                "could not answer an interaction from server %s: %s", interaction.guild_id, exc
            )

    async def _leave_unless_served(self, guild: discord.Guild, why: str) -> None:
        if self.serves(guild.id):
            return
        log.warning(
            "leaving server %s %r (%s): not in ALLOWED_GUILD_IDS", guild.id, guild.name, why
        )
        try:
            await guild.leave()
        except discord.HTTPException as exc:
            log.error("could not leave server %s: %s", guild.id, exc)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Someone added the bot to a server: leave it unless it is allowed."""
        await self._leave_unless_served(guild, "just added")

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server the bot is in, at start or after an outage: leave it unless it is allowed."""
        await self._leave_unless_served(guild, "already in it")

    def _warn_if_open(self) -> None:
        allowed = self.settings.allowed_guild_ids
        if allowed:
            log.info("serving %d allowed server(s) (ALLOWED_GUILD_IDS)", len(allowed))
            return
        log.warning(
            "ALLOWED_GUILD_IDS is empty: the bot serves ANY server that adds it, and that "
            "server's managers can use /video-admin there. Set ALLOWED_GUILD_IDS to your "
            "server ids (comma-separated) and turn off Public Bot in the Discord Developer "
            "Portal (Bot tab) so strangers cannot add it"
        )

    async def on_ready(self) -> None:
        """Log who we are once connected, and which shards this process holds."""
        log.info(
            "connected as %s (id %s) in %d server(s) on shard(s) %s of %s",
            self.user,
            self.application_id,
            len(self.guilds),
            ",".join(map(str, self.shard_list())),
            self.shard_count,
        )

    async def close(self) -> None:
        """Stop taking jobs, settle the running ones, then disconnect."""
        self.heartbeat.cancel()
        await self.jobs.close()
        await super().close()
        if self.web is not None:
            await self.web.close()
            self.web = None
