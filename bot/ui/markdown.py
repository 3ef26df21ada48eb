"""Showing text the bot did not write (prompts, provider statuses and reasons) as plain text.

Discord renders Markdown in the bot's public messages, so a prompt could carry a
masked link (``[official page](https://evil.example)``), a heading, spoilers or
code blocks into them. :func:`escape` puts a backslash before every character
that starts inline Markdown, and before ``#``, ``>`` and ``-`` at the start of a
line (headings, quotes, ``-#`` subtext, lists), so the text shows as typed.

``discord.utils.escape_markdown`` is not enough on its own: its masked-link rule
is greedy, so in ``[a](x) and [b](y)`` only the first ``[`` is escaped and the
second link still renders. Here every ``[`` is escaped. URLs are left as they
are (Discord shows them as plain links, and a backslash inside one would break
it); Markdown characters inside a URL are part of the link, not formatting.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_INLINE = frozenset("\\*_~|`[]")
_LINE_START = frozenset("#>-")
_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_SAFE_URL = re.compile(r"^https?://[^\s<>]+$", re.IGNORECASE)
_UNSAFE_IN_URL = re.compile(r"[\s<>\"`]")


def _pieces(text: str, mentions: bool) -> list[str]:
    """``text`` as escaped pieces: one per character, one per URL (so cuts stay whole)."""
    pieces: list[str] = []
    special = _INLINE | {"<"} if mentions else _INLINE
    at_line_start = True
    position = 0
    for match in _URL.finditer(text):
        at_line_start = _escape_run(text[position : match.start()], pieces, special, at_line_start)
        pieces.append(match.group(0))
        at_line_start = False
        position = match.end()
    _escape_run(text[position:], pieces, special, at_line_start)
    return pieces


def _escape_run(run: str, pieces: list[str], special: frozenset[str], at_line_start: bool) -> bool:
    for char in run:
        if char == "\n":
            pieces.append(char)
            at_line_start = True
            continue
        if at_line_start and char in " \t":
            continue  # leading blanks would let "  # heading" past the line-start rule
        if char in special or (at_line_start and char in _LINE_START):
            pieces.append("\\" + char)
        else:
            pieces.append(char)
        at_line_start = False
    return at_line_start


def escape(text: str, limit: int | None = None, *, mentions: bool = False) -> str:
    """``text`` with Markdown neutralised, shortened (with ``…``) to at most ``limit`` characters.

    The limit counts the escaped text, and a cut never splits an escape. With
    ``mentions``, ``<`` is escaped too, so ``<@id>``, ``<#channel>`` or
    ``</command:id>`` show as typed instead of as a mention or a command link
    (for member text; the bot's own reasons may mention members on purpose).
    """
    pieces = _pieces(text, mentions)
    if limit is None or sum(len(p) for p in pieces) <= limit:
        return "".join(pieces)
    kept: list[str] = []
    room = limit - 1  # for the "…"
    for piece in pieces:
        if len(piece) > room:
            if piece.lower().startswith(("http://", "https://")):
                kept.append(piece[:room])  # a cut URL is still plain text
            break
        kept.append(piece)
        room -= len(piece)
    return "".join(kept).rstrip() + "…"


def safe_url(url: str) -> str | None:
    """``url`` as one plain http(s) link (blanks, quotes, ``<`` and ``>`` percent-encoded).

    None when it is not an http(s) URL at all: then there is no link to show.
    """
    url = _UNSAFE_IN_URL.sub(lambda m: quote(m.group(0), safe=""), url.strip())
    return url if _SAFE_URL.match(url) else None
