"""Persistent job buttons: the job id lives in the ``custom_id``, so they work after restarts.

``video:cancel:<job>`` on a running job, ``video:retry:<job>`` on a failed one,
and ``video:cancel-confirm:<job>`` on the private question a Cancel asks once the
job was sent to the provider (its credit will not come back). The confirmation
is a persistent item too rather than an ephemeral view with a timeout: it holds
no state in memory, still works after a restart, and its click is checked again
from scratch (who, where, the job's state) like any other click.
The callbacks only route the click to a :class:`JobButtonHandler`: the client
(the bot) implements it. A typed Protocol rather than ``client.dispatch``:
the click is answered by exactly one handler that is awaited, so its errors
reach the member, and this module needs nothing from the layers above it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Protocol, Self, runtime_checkable

import discord

from bot.errors import reply_error
from bot.i18n import DEFAULT_LOCALE, N_, member_locale, t

log = logging.getLogger(__name__)

Buttons = Literal["cancel", "retry"] | None
UNAVAILABLE = N_("Videos are unavailable.")

Action = Literal["cancel", "retry", "cancel-confirm"]


@runtime_checkable
class JobButtonHandler(Protocol):
    """What a job button's click is handed to; may raise a :class:`bot.errors.BotError`."""

    async def on_job_cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        """Cancel job ``job_id`` for the clicker, and answer the interaction."""
        ...

    async def on_job_retry(self, interaction: discord.Interaction, job_id: int) -> None:
        """Start job ``job_id`` again for the clicker, and answer the interaction."""
        ...

    async def on_job_cancel_confirm(self, interaction: discord.Interaction, job_id: int) -> None:
        """Cancel job ``job_id`` without a refund (the clicker confirmed), and answer."""
        ...


async def _route(interaction: discord.Interaction, job_id: int, action: str) -> None:
    handler = interaction.client
    if not isinstance(handler, JobButtonHandler):
        await interaction.response.send_message(
            t(member_locale(interaction), UNAVAILABLE), ephemeral=True
        )
        return
    try:
        if action == "cancel":
            await handler.on_job_cancel(interaction, job_id)
        elif action == "cancel-confirm":
            await handler.on_job_cancel_confirm(interaction, job_id)
        else:
            await handler.on_job_retry(interaction, job_id)
    except Exception as exc:
        await reply_error(interaction, exc, what=f"the {action} button of job {job_id}")


class _JobButton:
    """A persistent button of one job: its ``custom_id`` is ``video:<action>:<job id>``.

    Mixed into each :class:`discord.ui.DynamicItem` below, which gives the
    template; a click survives restarts and is routed by :func:`_route`.
    """

    action: Action
    label: str  # a catalogue message, shown in the job's language
    style: discord.ButtonStyle

    def __init__(self, job_id: int, locale: str = DEFAULT_LOCALE) -> None:
        super().__init__(  # type: ignore[call-arg]  # DynamicItem's, after this mixin
            discord.ui.Button(
                label=t(locale, self.label),
                style=self.style,
                custom_id=f"video:{self.action}:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        """The button for the job id in a clicked ``custom_id``."""
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the click to the job handler's method for this button."""
        await _route(interaction, self.job_id, self.action)


class CancelButton(
    _JobButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"video:cancel:(?P<job>\d+)",
):
    """Stops a running job; only its owner or a server manager may."""

    action = "cancel"
    label = N_("Cancel")
    style = discord.ButtonStyle.secondary


class RetryButton(
    _JobButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"video:retry:(?P<job>\d+)",
):
    """Starts a new job with the same image and options (a new credit, the usual checks)."""

    action = "retry"
    label = N_("Retry")
    style = discord.ButtonStyle.primary


class CancelConfirmButton(
    _JobButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"video:cancel-confirm:(?P<job>\d+)",
):
    """Confirms the Cancel of a job already sent to the provider (no refund)."""

    action = "cancel-confirm"
    label = N_("Cancel anyway")
    style = discord.ButtonStyle.danger


def confirm_view(job_id: int, locale: str = DEFAULT_LOCALE) -> discord.ui.View:
    """The private question's one button: cancel job ``job_id`` anyway (labelled in ``locale``)."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelConfirmButton(job_id, locale))
    return view


def job_view(job_id: int, buttons: Buttons, locale: str = DEFAULT_LOCALE) -> discord.ui.View | None:
    """The buttons a job's message shows (labelled in ``locale``), or None for none."""
    if buttons is None:
        return None
    view = discord.ui.View(timeout=None)
    button = CancelButton if buttons == "cancel" else RetryButton
    view.add_item(button(job_id, locale))
    return view
