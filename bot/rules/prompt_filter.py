"""An optional list of blocked words and patterns for prompts.

Entries come from ``BLOCKED_PROMPT_PATTERNS`` (comma-separated) and
``BLOCKED_PROMPT_FILE`` (one per line, ``#`` starts a comment). A plain entry
is a word or phrase matched case-insensitively as a whole word; an entry written
``/like this/`` is a regular expression (case-insensitive). Prompts are
normalised (Unicode NFKC, case-folded, runs of spaces collapsed) before
matching, so full-width letters or extra spaces do not slip through.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path


class FilterError(ValueError):
    """A blocked pattern is invalid; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class PromptFilter:
    """Compiled blocked patterns; empty means every prompt is allowed."""

    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def parse(cls, entries: list[tuple[str, str]]) -> PromptFilter:
        """Compile ``(entry, source)`` pairs; ``source`` names the setting for errors."""
        compiled = []
        for entry, source in entries:
            text = entry.strip()
            if not text:
                continue
            if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
                try:
                    compiled.append(re.compile(text[1:-1], re.IGNORECASE))
                except re.error as exc:
                    raise FilterError(f"{source}: {text!r} is not a valid pattern: {exc}") from None
            else:
                words = r"\s+".join(re.escape(w) for w in normalise(text).split())
                compiled.append(re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE))
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
        return len(self.patterns)

    def match(self, prompt: str) -> int | None:
        """The index of the first pattern the prompt matches, or None when it is allowed."""
        text = normalise(prompt)
        for index, pattern in enumerate(self.patterns):
            if pattern.search(text) or pattern.search(prompt):
                return index
        return None


def normalise(text: str) -> str:
    """NFKC, case-folded, with every run of whitespace turned into one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
