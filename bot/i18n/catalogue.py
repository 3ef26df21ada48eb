"""Loading the compiled catalogues and translating with an explicit locale.

Messages use Python's brace placeholders (``{limit}``), so a translation may
reorder them; a translation that names a placeholder the code does not pass
(a catalogue bug) falls back to the English text rather than failing a reply.
"""

from __future__ import annotations

import gettext
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Union

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "en"
#: The catalogues shipped in ``bot/locales`` (gettext's names).
LOCALES = ("en", "zh_CN", "es", "pt_BR")
DOMAIN = "messages"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``locale``; English (the msgids themselves) when missing."""
    if locale not in LOCALES or locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    path = resources.files("bot") / "locales" / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    except OSError:
        log.warning("no compiled catalogue for %s; using English", locale)
        return gettext.NullTranslations()


def _format(template: str, english: str, params: Mapping[str, object], locale: str) -> str:
    values = {key: render(value, locale) for key, value in params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        log.warning("broken placeholder in the %s translation of %r", locale, english)
        return english.format(**values)


def t(locale: str, message: str, /, **params: object) -> str:
    """``message`` in ``locale``, with ``params`` filled in (each rendered in ``locale`` too)."""
    return _format(translations(locale).gettext(message), message, params, locale)


def tn(locale: str, singular: str, plural: str, n: int, /, **params: object) -> str:
    """The plural form for ``n`` in ``locale``; ``{n}`` is available to the text."""
    template = translations(locale).ngettext(singular, plural, n)
    english = singular if n == 1 else plural
    return _format(template, english, {"n": n, **params}, locale)


def translate_known(locale: str, text: str) -> str:
    """``text`` translated when it is exactly a catalogue message, else unchanged.

    For texts that travel as plain English strings (a provider error's fixed
    message, a reason stored with a job) and are rendered later.
    """
    return translations(locale).gettext(text)


def N_(message: str) -> str:
    """Mark a constant for extraction without translating it (it is translated when shown)."""
    return message


@dataclass(frozen=True, slots=True)
class Msg:
    """A message and its parameters, translated once the reader's locale is known."""

    message: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    n: int | None = None

    def render(self, locale: str) -> str:
        """The text in ``locale``."""
        if self.plural is not None and self.n is not None:
            return tn(locale, self.message, self.plural, self.n, **self.params)
        return t(locale, self.message, **self.params)

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)


#: What a member-facing text may be: ready-made (already in its language) or a message.
Text = Union[str, Msg]  # noqa: UP007 (a runtime alias, used in isinstance-free annotations)


def msg(message: str, /, **params: object) -> Msg:
    """A message to translate later (marked for extraction like :func:`t`)."""
    return Msg(message, params)


def nmsg(singular: str, plural: str, n: int, /, **params: object) -> Msg:
    """A plural message to translate later (marked for extraction like :func:`tn`)."""
    return Msg(singular, params, plural, n)


def render(value: object, locale: str) -> object:
    """``value`` in ``locale`` when it is a :class:`Msg`; anything else unchanged."""
    return value.render(locale) if isinstance(value, Msg) else value


def catalogue_digest() -> str:
    """A digest of the compiled catalogues, so a changed translation re-syncs the commands."""
    digest = hashlib.sha256()
    for locale in LOCALES[1:]:
        path = resources.files("bot") / "locales" / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        digest.update(locale.encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()
