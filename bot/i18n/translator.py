"""discord.py's :class:`~discord.app_commands.Translator` over our catalogues.

The command tree asks it, when syncing, for every name, description and choice
in every Discord locale; what it returns becomes ``name_localizations`` /
``description_localizations``. A translation Discord would reject (a name that
is not lower case or not a single word, a text over 100 characters) is left out,
so the English one is shown rather than the whole sync failing.
"""

from __future__ import annotations

import logging
import unicodedata

import discord
from discord import app_commands

from bot.i18n.catalogue import DEFAULT_LOCALE, Msg, t
from bot.i18n.locales import pick_locale

log = logging.getLogger(__name__)

Location = app_commands.TranslationContextLocation
NAMES = (Location.command_name, Location.group_name, Location.parameter_name)
NAME_LIMIT = 32
TEXT_LIMIT = 100  # descriptions and choice names


def valid_name(name: str) -> bool:
    r"""Whether Discord accepts ``name`` as a command or option name.

    Discord's rule is ``^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``, lower
    case where the script has case
    (https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-naming).
    Letters and digits here are Unicode's L* and N* categories; Devanagari and
    Thai marks (M*) are allowed too.
    """
    if not 1 <= len(name) <= NAME_LIMIT or name != name.lower():
        return False
    for char in name:
        category = unicodedata.category(char)
        if char in "-_" or category[0] in "LN":
            continue
        if category[0] == "M" and unicodedata.name(char, "").startswith(("DEVANAGARI", "THAI")):
            continue
        return False
    return True


def localize(string: app_commands.locale_str, locale: str) -> str:
    """``string`` in ``locale``: its :class:`Msg` (``msg=`` extra) or its message as msgid."""
    message = string.extras.get("msg")
    if isinstance(message, Msg):
        return message.render(locale)
    return t(locale, string.message)


class CatalogueTranslator(app_commands.Translator):
    """Gives Discord our catalogues' command names, descriptions and choices."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The translation for ``locale``; None when it is English or not translated."""
        ours = pick_locale(locale)
        if ours == DEFAULT_LOCALE:
            return None
        text = localize(string, ours)
        if text == localize(string, DEFAULT_LOCALE):
            return None
        if context.location in NAMES:
            if not valid_name(text):
                log.warning("%s name %r is not valid on Discord; English kept", ours, text)
                return None
        elif not 1 <= len(text) <= TEXT_LIMIT:
            log.warning("%s text %r is over Discord's limit; English kept", ours, text)
            return None
        return text
