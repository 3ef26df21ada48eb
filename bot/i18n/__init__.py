"""Members' own language: one gettext catalogue per language, chosen per message.

Every member-facing text is an English msgid looked up in the catalogue of an
explicit locale (there is no global "current language": concurrent interactions
and background jobs each say which one they write in). :func:`t` and
:func:`tn` translate now; :class:`Msg` (built with :func:`msg` / :func:`nmsg`)
carries a message and its parameters until the locale is known, e.g. inside a
:class:`bot.errors.UserError` raised far from the interaction. The catalogues
live in ``bot/locales`` and are managed with Babel (see README, "Languages").
"""

from bot.i18n.catalogue import (
    DEFAULT_LOCALE,
    LOCALES,
    N_,
    Msg,
    Text,
    catalogue_digest,
    msg,
    nmsg,
    render,
    t,
    tn,
    translate_known,
)
from bot.i18n.locales import member_locale, pick_locale, server_locale

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "N_",
    "Msg",
    "Text",
    "catalogue_digest",
    "member_locale",
    "msg",
    "nmsg",
    "pick_locale",
    "render",
    "server_locale",
    "t",
    "tn",
    "translate_known",
]
