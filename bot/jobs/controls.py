"""The job buttons: Cancel (and its confirmation) and Retry.

A mixin of :class:`bot.jobs.service.JobService`: the service owns the runs and
launches new jobs; this module decides who may cancel or retry a job, and how.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.config import Settings
from bot.db import Store
from bot.db.models import Job
from bot.errors import Refusal, UserError
from bot.i18n import N_, member_locale, msg, translate_known
from bot.jobs import ledger
from bot.jobs.request import JobRequest, request_from_job
from bot.jobs.run import JobRun
from bot.providers.base import Provider
from bot.rules.access import may_manage
from bot.ui.buttons import confirm_view
from bot.ui.text import cancel_confirmation

log = logging.getLogger(__name__)

# Answers and refusals, in English; each is translated for the member who clicked.
FINISHED = N_("This video has already finished.")
CANCELLED = N_("Cancelled. The credit was refunded.")
CANCELLED_KEPT = N_("Cancelled. The video had already been sent to the provider: no refund.")
NOT_YOURS = N_("Only the member who asked for this video, or a server manager, can cancel it.")
IN_ITS_SERVER = N_("Please press Retry in the server where the video was made.")
NOT_A_MEMBER = N_("You are no longer a member of the server where this video was made.")
GONE = N_("That video no longer exists.")


@dataclasses.dataclass(frozen=True, slots=True)
class ConfirmCancel:
    """The job was sent to the provider: ask before cancelling it (no refund then)."""

    job_id: int
    own: bool  # the clicker asked for the video (else a manager cancels someone's)


class JobControls:
    """Cancel and Retry, for the service that owns the runs (see ``JobService``)."""

    # Provided by the service this is mixed into.
    settings: Settings
    store: Store
    provider: Provider
    client: discord.Client
    owner: str
    runs: dict[int, JobRun]
    ensure_accepting: Callable[[], None]
    launch: Callable[..., Awaitable[None]]

    async def retry(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Retry button: the same image and options as a new job, with the usual checks.

        The rules of the job's server apply wherever the button is pressed: in
        that server with the clicker's roles there; in a DM (where the bot may
        have posted the result) with the member's roles fetched from the
        server, in the job's channel; in another server not at all.
        """
        job = await self.store.get_job(job_id)
        if job is None:
            raise UserError(GONE)
        if job.user_id != interaction.user.id:
            raise UserError(msg("Only the member who asked for this video can retry it."))
        if job.status not in ("failed", "cancelled"):
            raise UserError(msg("Only a failed or cancelled video can be retried."))
        self.ensure_accepting()
        request = request_from_job(job, self.provider.capabilities)
        if job.guild_id is None or interaction.guild_id == job.guild_id:
            channel_id = interaction.channel_id or job.channel_id
            await self.launch(interaction, dataclasses.replace(request, channel_id=channel_id))
            return
        if interaction.guild_id is not None:
            raise UserError(IN_ITS_SERVER)
        request = await self._in_its_server(job, request)
        await self.launch(interaction, request, resolved=True)

    async def _in_its_server(self, job: Job, request: JobRequest) -> JobRequest:
        """``request`` with the member's roles in the job's server, fetched from Discord."""
        assert job.guild_id is not None
        guild = self.client.get_guild(job.guild_id)
        if guild is None:
            raise UserError(IN_ITS_SERVER)
        try:
            # fetched, never cached: the roles (and membership) as they are now
            member = await guild.fetch_member(job.user_id)
        except discord.NotFound:
            raise Refusal("member", NOT_A_MEMBER) from None
        except discord.HTTPException as exc:
            log.warning("job %s: could not fetch the member for a Retry: %s", job.id, exc)
            raise UserError(IN_ITS_SERVER) from None
        channel = self.client.get_channel(job.channel_id)
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        return dataclasses.replace(
            request,
            role_ids=tuple(role.id for role in member.roles),
            parent_channel_id=parent,
            channel_id=job.channel_id,
        )

    async def cancel(
        self,
        job_id: int,
        *,
        by: int,
        can_manage: bool = False,
        guild_id: int | None = None,
        owner: bool = False,
        confirmed: bool = False,
    ) -> str | ConfirmCancel:
        """Cancel a job for member ``by``; returns what to tell them, or a question.

        Someone else's job may be cancelled by a bot ``owner``, or by a member
        who ``can_manage`` the server ``guild_id`` where they pressed the button,
        if the job is of that server. Before the job was sent to the provider a
        Cancel is refunded. Once sent (the provider bills it, and the ``chat``
        and ``generations`` protocols cannot even stop it) the first click gets
        a :class:`ConfirmCancel` back, and the ``confirmed`` one ends it without
        a refund.
        """
        job = await self.store.get_job(job_id)
        if job is None:
            return GONE
        manager = owner or (can_manage and guild_id is not None and guild_id == job.guild_id)
        if by != job.user_id and not manager:
            return NOT_YOURS
        if job.is_final:
            return FINISHED
        run = self.runs.get(job_id)
        billable = job.submitted_at is not None or (run is not None and run.billable)
        if billable and not confirmed:
            return ConfirmCancel(job_id, own=by == job.user_id)
        done = CANCELLED_KEPT if billable else CANCELLED
        if run is not None:  # the run settles itself; an ended one only has its message to go
            return done if run.request_cancel(by, keep_credit=billable) else FINISHED
        holder = await self.store.lease_holder(job_id)
        if holder is not None and holder != self.owner:
            # Another live process runs it: it reads the request at its next lease
            # renewal and settles the job itself (provider cancel, refund, message).
            asked = await self.store.ask_cancel(job_id, by, keep_credit=billable)
            return done if asked else FINISHED
        refund = not billable
        if await ledger.settle(self.store, job_id, "cancelled", error="cancelled", refund=refund):
            return done
        return FINISHED

    async def cancel_click(
        self, interaction: discord.Interaction, job_id: int, *, confirmed: bool
    ) -> None:
        """A Cancel (or its confirmation) button: check who and where, then answer privately."""
        permissions = interaction.permissions if interaction.guild_id is not None else None
        answer = await self.cancel(
            job_id,
            by=interaction.user.id,
            can_manage=may_manage((), interaction.user.id, permissions),
            guild_id=interaction.guild_id,
            owner=interaction.user.id in self.settings.owner_ids,
            confirmed=confirmed,
        )
        locale = member_locale(interaction)
        if isinstance(answer, ConfirmCancel):
            view = confirm_view(job_id, locale)
            await interaction.response.send_message(
                cancel_confirmation(answer.own, locale), view=view, ephemeral=True
            )
            # discord.py gives an ephemeral message's view a 15-minute timeout task that
            # would outlive a shutdown; the button is a DynamicItem, routed without it.
            view.stop()
        elif confirmed:  # the answer replaces the question (and its button)
            await interaction.response.edit_message(
                content=translate_known(locale, answer), view=None
            )
        else:
            await interaction.response.send_message(translate_known(locale, answer), ephemeral=True)
