"""The prompt filter: whole words, phrases, regexes, normalisation, the file, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.rules.prompt_filter import FilterError, PromptFilter


def test_empty_filter_allows_everything() -> None:
    assert PromptFilter.from_settings("", None).match("anything at all") is None
    assert len(PromptFilter()) == 0


def test_words_match_whole_words_case_insensitively() -> None:
    rules = PromptFilter.from_settings("gore, blood bath", None)
    assert rules.match("A scene full of GORE") == 0
    assert rules.match("gorevery is not a word") is None  # not a whole word
    assert rules.match("a Blood   Bath at dawn") == 1  # spaces collapse
    assert rules.match("a peaceful bath") is None


def test_unicode_tricks_are_normalised() -> None:
    rules = PromptFilter.from_settings("gore", None)
    assert rules.match("ｇｏｒｅ everywhere") == 0  # full-width letters (NFKC)


def test_regex_entries_between_slashes() -> None:
    rules = PromptFilter.from_settings(r"/\bcelebrit(y|ies)\b/, cat", None)
    assert rules.match("two celebrities dance") == 0
    assert rules.match("a CAT naps") == 1


def test_file_entries_skip_comments_and_report_bad_patterns(tmp_path: Path) -> None:
    path = tmp_path / "blocked.txt"
    path.write_text("# one per line\nweapon\n\n/bad(/\n", encoding="utf-8")
    with pytest.raises(FilterError, match="BLOCKED_PROMPT_FILE line 4"):
        PromptFilter.from_settings("", str(path))
    path.write_text("# one per line\nweapon\n/a{2,3}rgh/\n", encoding="utf-8")
    rules = PromptFilter.from_settings("gore", str(path))
    assert len(rules) == 3
    assert rules.match("an aaargh moment") == 2


def test_unreadable_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FilterError, match="BLOCKED_PROMPT_FILE cannot be read"):
        PromptFilter.from_settings("", str(tmp_path / "missing.txt"))
    with pytest.raises(FilterError, match="BLOCKED_PROMPT_PATTERNS"):
        PromptFilter.from_settings("/[unclosed/", None)


@pytest.mark.parametrize(
    "disguised",
    [
        "g\u200bore",  # zero-width space
        "go\u200dre",  # zero-width joiner
        "g\u2060o\u2060r\u2060e",  # word joiner
        "\ufeffgore",  # byte-order mark
        "go\u00adre",  # soft hyphen
        "go\u034fre",  # combining grapheme joiner
        "g\u0336o\u0336r\u0336e\u0336",  # strike-through combining marks
        "góre",  # an accent
        "gоre",  # Cyrillic о
        "gοrе",  # Greek ο, Cyrillic е
        "GОRЕ",  # Cyrillic capitals
        "𝐠𝐨𝐫𝐞",  # mathematical bold (NFKC)
    ],
)
def test_invisible_characters_marks_and_look_alikes_do_not_slip_through(disguised: str) -> None:
    rules = PromptFilter.from_settings("gore", None)
    assert rules.match(f"a scene full of {disguised} tonight") == 0


def test_look_alikes_are_folded_in_phrases_and_regexes_too() -> None:
    rules = PromptFilter.from_settings("blood bath, /sca+m/", None)
    assert rules.match("a b\u200blооd\u00a0\u200bbаth") == 0  # Cyrillic о, а; odd spaces
    assert rules.match("a ѕсаaam call") == 1  # Cyrillic ѕ, с, а
    assert rules.match("a peaceful bath, a scan") is None


def test_plain_prompts_in_other_scripts_are_not_mangled_into_matches() -> None:
    rules = PromptFilter.from_settings("gore", None)
    assert rules.match("горе") is None  # Russian "grief": г is not a Latin look-alike
    assert rules.match("a gorge at sunset") is None


def test_an_entry_with_nothing_visible_is_refused_at_start() -> None:
    with pytest.raises(FilterError, match="BLOCKED_PROMPT_PATTERNS"):
        PromptFilter.from_settings("\u200b\u200d", None)


@pytest.mark.timeout(30)  # the backtracking engine needs hours for this; RE2 microseconds
def test_a_catastrophic_regex_finishes_on_a_long_hostile_prompt() -> None:
    rules = PromptFilter.from_settings("/(a+)+$/, /(x|xx)+y/", None)
    assert rules.match("a" * 999 + "!") is None
    assert rules.match("x" * 999 + "!") is None
    assert rules.match("only " + "a" * 30) == 0  # it still matches what it should


def test_patterns_the_linear_engine_cannot_run_are_refused_clearly() -> None:
    with pytest.raises(FilterError, match=r"BLOCKED_PROMPT_PATTERNS.*look-around"):
        PromptFilter.from_settings(r"/(?<!un)safe/", None)
    with pytest.raises(FilterError, match="back-references"):
        PromptFilter.from_settings(r"/(a)\1/", None)
