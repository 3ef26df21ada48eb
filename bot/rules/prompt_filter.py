"""An optional list of blocked words and patterns for prompts.

Entries come from ``BLOCKED_PROMPT_PATTERNS`` (comma-separated) and
``BLOCKED_PROMPT_FILE`` (one per line, ``#`` starts a comment). A plain entry
is a word or phrase matched case-insensitively as a whole word; an entry written
``/like this/`` is a regular expression (case-insensitive).

Prompts are folded before matching (see :mod:`bot.rules.folding`): Unicode NFKC
(full-width and styled letters), invisible characters removed (zero-width
spaces and joiners, soft hyphens, byte-order marks...), case folded, runs of
spaces collapsed; then accents and other combining marks are dropped and
Cyrillic/Greek look-alike letters become the Latin letters they imitate. Plain
entries are folded the same way, so ``gore`` also blocks ``ｇｏｒｅ``, ``g\u200bore``,
``góre`` and ``gоre`` with a Cyrillic ``о``. A regular expression is tried on the
prompt as typed and on both foldings: write it in plain Latin lowercase.

Regular expressions run on RE2 (the ``google-re2`` package), whose matching
time is linear in the prompt's length whatever the pattern: an operator's
``/(a+)+$/`` cannot stall the bot on a hostile prompt. The price is that RE2
has no look-around and no back-references; such a pattern is refused at start
with a message naming it. RE2 always finishes, so there is no "the check timed
out" case to handle at the call site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import re2

from bot.rules.folding import normalise, skeleton

__all__ = ["FilterError", "PromptFilter", "normalise", "skeleton"]


class FilterError(ValueError):
    """A blocked pattern is invalid; the message names where it came from."""


class _Searcher(Protocol):
    def search(self, text: str, /) -> object: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    """One compiled entry: plain words match the skeleton; regexes every form."""

    pattern: _Searcher
    regex: bool


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a bad pattern is reported once, as a FilterError
    return options


def _compile_regex(source: str, entry: str, origin: str) -> _Searcher:
    try:
        return re2.compile(source, _re2_options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise FilterError(
            f"{origin}: {entry!r} is not a valid pattern: {detail} (patterns run on RE2, "
            "which has no look-around or back-references)"
        ) from None


@dataclass(frozen=True, slots=True)
class PromptFilter:
    """Compiled blocked entries; empty means every prompt is allowed."""

    entries: tuple[_Entry, ...] = ()

    @classmethod
    def parse(cls, entries: list[tuple[str, str]]) -> PromptFilter:
        """Compile ``(entry, source)`` pairs; ``source`` names the setting for errors."""
        compiled = []
        for entry, source in entries:
            text = entry.strip()
            if not text:
                continue
            if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
                compiled.append(_Entry(_compile_regex(text[1:-1], text, source), regex=True))
                continue
            words = skeleton(text).split()
            if not words:  # nothing left once invisible characters are gone
                raise FilterError(f"{source}: {text!r} has no visible letters to block")
            # Our own escaped literals: the standard engine is safe (and knows Unicode \w).
            joined = r"\s+".join(re.escape(w) for w in words)
            compiled.append(_Entry(re.compile(rf"(?<!\w){joined}(?!\w)"), regex=False))
        return cls(tuple(compiled))

    @classmethod
    def from_settings(cls, patterns: str, file: str | None) -> PromptFilter:
        """Read ``BLOCKED_PROMPT_PATTERNS`` and the file named by ``BLOCKED_PROMPT_FILE``."""
        entries = [(p, "BLOCKED_PROMPT_PATTERNS") for p in patterns.split(",")]
        if file:
            try:
                lines = Path(file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise FilterError(f"BLOCKED_PROMPT_FILE cannot be read: {exc}") from None
            for number, line in enumerate(lines, start=1):
                if line.strip() and not line.lstrip().startswith("#"):
                    entries.append((line, f"BLOCKED_PROMPT_FILE line {number}"))
        return cls.parse(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, prompt: str) -> int | None:
        """The index of the first entry the prompt matches, or None when it is allowed.

        Linear in the prompt's length for every entry, so it is safe to call on
        the event loop.
        """
        if not self.entries:
            return None
        folded = skeleton(prompt)
        forms = (prompt, normalise(prompt), folded)
        for index, entry in enumerate(self.entries):
            if entry.regex:
                if any(entry.pattern.search(form) for form in forms):
                    return index
            elif entry.pattern.search(folded):
                return index
        return None
