"""Every error whose message a member or an operator may read, and the one way to show it.

Raise a :class:`BotError` anywhere below the cogs (providers' errors are in the
family too); the command tree's error handler, and :func:`reply_error` for
buttons, turn it into an ephemeral reply with :func:`user_message`. A job that
fails in the background shows the same text in its message.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong inside the bot. Please try again later."


class BotError(Exception):
    """The family: :attr:`user_message` is always safe to show a member."""

    @property
    def user_message(self) -> str:
        """What the member reads (by default the error's own text)."""
        return str(self)


class UserError(BotError):
    """A problem with what the member asked for; the message is shown to them as is."""


class Refusal(UserError):
    """A job refused by a rule; ``reason`` is a short label for metrics and logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AdminOnly(UserError, app_commands.CheckFailure):
    """Raised by `/video-admin`'s check for members who may not manage the server's videos."""

    def __init__(
        self, message: str = "Only members who can manage this server can use `/video-admin`."
    ) -> None:
        super().__init__(message)


def user_message(exc: BaseException) -> str | None:
    """What a member may read about ``exc``; None when it is a bug (log it, say little)."""
    original = getattr(exc, "original", None)  # discord.py wraps a command's own error
    if isinstance(original, BaseException):
        exc = original
    if isinstance(exc, BotError):
        return exc.user_message
    if isinstance(exc, app_commands.CheckFailure):
        return "You cannot use this command here."
    return None


async def reply_error(interaction: discord.Interaction, exc: BaseException, *, what: str) -> None:
    """Answer ``interaction`` privately with what went wrong; log ``exc`` when it is a bug."""
    message = user_message(exc)
    if message is None:
        log.error("%s failed", what, exc_info=exc)
        message = UNEXPECTED
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as http:
        log.warning("could not report an error to the member: %s", http)
