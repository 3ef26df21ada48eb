"""Which catalogue a reader gets: the member's locale in private, the server's in public.

Discord sends both on every interaction: ``locale`` (the member's client
language) and ``guild_locale`` (the server's "preferred locale", set in its
Community settings); see
https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
"""

from __future__ import annotations

import discord

from bot.i18n.catalogue import DEFAULT_LOCALE, LOCALES

# Discord's locale codes (https://discord.com/developers/docs/reference#locales)
# mapped to our catalogues; every Spanish variant reads the one Spanish catalogue.
_DISCORD = {"zh-cn": "zh_CN", "es-es": "es", "es-419": "es", "pt-br": "pt_BR"}


def pick_locale(value: str | discord.Locale | None) -> str:
    """The catalogue for a Discord locale code (or one of ours); English when none fits."""
    if value is None:
        return DEFAULT_LOCALE
    code = str(value.value if isinstance(value, discord.Locale) else value)
    if code in LOCALES:
        return code
    return _DISCORD.get(code.lower().replace("_", "-"), DEFAULT_LOCALE)


def member_locale(interaction: discord.Interaction) -> str:
    """The catalogue for an ephemeral reply: the member's own language.

    Read leniently (``getattr``): button callbacks may hand over a partial
    interaction, and English is the right answer when the locale is unknown.
    """
    return pick_locale(getattr(interaction, "locale", None))


def server_locale(interaction: discord.Interaction) -> str:
    """The catalogue for a public message: the server's language (the member's in a DM)."""
    guild_locale = getattr(interaction, "guild_locale", None)
    if getattr(interaction, "guild_id", None) is not None and guild_locale is not None:
        return pick_locale(guild_locale)
    return member_locale(interaction)
