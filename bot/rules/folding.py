"""Folding text so that disguised words compare equal to plain ones (for the prompt filter).

Two levels:

* :func:`normalise`: Unicode NFKC (full-width ``ｇｏｒｅ``, styled ``𝐠𝐨𝐫𝐞``, circled
  letters), invisible characters removed, case folded, whitespace collapsed.
* :func:`skeleton`: that, plus combining marks dropped (``g̶o̶r̶e̶``, ``góre``) and
  look-alike letters of other scripts mapped to the Latin letter they imitate
  (Cyrillic ``о`` and Greek ``ο`` both become ``o``).

The look-alike table is ours, small and deliberate: the Cyrillic, Greek and a
few other letters that are indistinguishable from Latin ones in Discord's font,
after the pairs listed as confusable in Unicode's UTS #39 data
(https://www.unicode.org/Public/security/latest/confusables.txt). A library was
considered: ``confusable_homoglyphs`` detects mixed scripts but does not map
text, and ``homoglyphs``/``confusables`` expand a string into every possible
reading (exponential in the worst case, on attacker-chosen text). One fixed
mapping per character is linear and predictable. The cost is that a Russian or
Greek word spelled with these letters folds like its Latin look-alike, so a
blocked Latin word can also refuse it: for a blocklist that is the safe side.
"""

from __future__ import annotations

import unicodedata

# Not format characters (category Cf, removed wholesale) but drawn as nothing:
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, braille blank.
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0\u2800")

# Before case folding, so that each case maps to the Latin letter it resembles
# (Greek capital Nu looks like N, its lowercase like v).
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic capitals
        "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
        "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y",
        "Ԛ": "Q", "Ԝ": "W", "Ӏ": "l",
        # Cyrillic lowercase
        "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k",
        "ӏ": "l", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
        "ү": "y", "ѵ": "v",
        # Greek capitals
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
        # Greek lowercase
        "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x",
        "ϲ": "c", "ϳ": "j", "γ": "y",
        # Latin letters that are not the ASCII ones, and Armenian
        "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i",
        "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g",
    }
)  # fmt: skip


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in _INVISIBLE_EXTRA)


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, case-folded, every run of whitespace one space."""
    return " ".join(_visible(unicodedata.normalize("NFKC", text)).casefold().split())


def skeleton(text: str) -> str:
    """:func:`normalise`, then without combining marks and with look-alikes made Latin."""
    visible = _visible(unicodedata.normalize("NFKC", text))
    bare = "".join(
        c
        for c in unicodedata.normalize("NFD", visible)
        if not unicodedata.category(c).startswith("M")
    )
    latin = bare.translate(_LOOKALIKES)
    return " ".join(unicodedata.normalize("NFC", latin).casefold().split())
