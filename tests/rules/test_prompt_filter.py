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
