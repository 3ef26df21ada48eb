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

from bot.i18n import DEFAULT_LOCALE, N_, Msg, member_locale, msg, translate_known

log = logging.getLogger(__name__)

UNEXPECTED = N_("Something went wrong inside the bot. Please try again later.")
ADMIN_ONLY = msg("Only members who can manage this server can use `/video-admin`.")


class BotError(Exception):
    """The family: :attr:`user_message` is always safe to show a member."""

    @property
    def user_message(self) -> str:
        """What the member reads, in English (by default the error's own text)."""
        return str(self)

    def localized(self, locale: str) -> str:
        """:attr:`user_message` in ``locale`` (a catalogue message is translated)."""
        return translate_known(locale, self.user_message)


class UserError(BotError):
    """A problem with what the member asked for; the message is shown to them as is.

    Pass a :class:`~bot.i18n.Msg` (``msg("...", limit=5)``) so the member reads
    it in their own language; a plain string is shown as it is, or translated
    when it is exactly a catalogue message.
    """

    def __init__(self, message: str | Msg) -> None:
        super().__init__(str(message))
        self.message = message

    def localized(self, locale: str) -> str:
        """The message in ``locale``."""
        if isinstance(self.message, Msg):
            return self.message.render(locale)
        return translate_known(locale, self.message)


class Refusal(UserError):
    """A job refused by a rule; ``reason`` is a short label for metrics and logs."""

    def __init__(self, reason: str, message: str | Msg) -> None:
        super().__init__(message)
        self.reason = reason


class AdminOnly(UserError, app_commands.CheckFailure):
    """Raised by `/video-admin`'s check for members who may not manage the server's videos."""

    def __init__(self, message: str | Msg = ADMIN_ONLY) -> None:
        super().__init__(message)


def user_message(exc: BaseException, locale: str = DEFAULT_LOCALE) -> str | None:
    """What a member may read about ``exc`` in ``locale``; None when it is a bug (log it)."""
    original = getattr(exc, "original", None)  # discord.py wraps a command's own error
    if isinstance(original, BaseException):
        exc = original
    if isinstance(exc, BotError):
        return exc.localized(locale)
    if isinstance(exc, app_commands.CheckFailure):
        return translate_known(locale, N_("You cannot use this command here."))
    return None


async def reply_error(interaction: discord.Interaction, exc: BaseException, *, what: str) -> None:
    """Answer ``interaction`` privately, in the member's language; log ``exc`` if it is a bug."""
    locale = member_locale(interaction)
    message = user_message(exc, locale)
    if message is None:
        log.error("%s failed", what, exc_info=exc)
        message = translate_known(locale, UNEXPECTED)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException as http:
        log.warning("could not report an error to the member: %s", http)
