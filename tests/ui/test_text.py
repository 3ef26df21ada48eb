"""What members see never renders Markdown they or the provider chose: hostile prompts."""

from __future__ import annotations

import re

import pytest

from bot.ui.markdown import escape, safe_url
from bot.ui.progress import ProgressState, render_line
from bot.ui.text import (
    CONTENT_LIMIT,
    QUOTE_LINES,
    failure_message,
    progress_message,
    quote,
    success_message,
)

OPTIONS: dict[str, object] = {"duration": 10, "orientation": "portrait", "model": "sora-2"}
STATE = ProgressState("generating", 40, elapsed=12)
# An unescaped "[" followed by "](": a masked link Discord would render.
MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(")


def prompt_lines(message: str) -> list[str]:
    """The quoted prompt lines of a job message (after the header)."""
    return [line for line in message.splitlines()[1:] if line.startswith("> ")]


@pytest.mark.parametrize(
    "prompt",
    [
        "[official trailer](https://evil.example/login)",
        "a fox [a](https://ok.example) and [free nitro](https://evil.example)",
        "cat\n[click](<https://evil.example>)",
    ],
)
def test_masked_links_in_a_prompt_do_not_render(prompt: str) -> None:
    for message in (
        progress_message(1, prompt, OPTIONS, STATE),
        success_message(1, prompt, OPTIONS, url=None, attached=True, elapsed="1m"),
        failure_message(1, prompt, OPTIONS, "it broke"),
    ):
        assert not MASKED_LINK.search(message), message


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("# HUGE", "> \\# HUGE"),
        ("## big", "> \\## big"),
        ("  ### indented", "> \\### indented"),
        ("-# tiny", "> \\-# tiny"),
        ("> nested", "> \\> nested"),
        (">>> everything below", "> \\>>> everything below"),
        ("- item", "> \\- item"),
    ],
)
def test_line_start_markdown_in_a_prompt_is_neutralised(line: str, shown: str) -> None:
    message = progress_message(1, f"a calm sea\n{line}", OPTIONS, STATE)
    assert prompt_lines(message) == ["> a calm sea", shown]


def test_inline_markdown_and_mentions_in_a_prompt_show_as_typed() -> None:
    prompt = "**bold** __u__ ~~s~~ ||spoiler|| `code` ```block``` \\ <@123> </video:1> <#5>"
    shown = quote(prompt)
    assert shown == (
        "> \\*\\*bold\\*\\* \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|spoiler\\|\\| \\`code\\` "
        "\\`\\`\\`block\\`\\`\\` \\\\ \\<@123> \\</video:1> \\<#5>"
    )


def test_a_plain_url_in_a_prompt_stays_a_working_link() -> None:
    assert quote("like https://example.com/a_b*c here") == "> like https://example.com/a_b*c here"


def test_provider_status_text_is_escaped_in_the_progress_line() -> None:
    line = render_line(ProgressState("generating", 10, "[win](https://evil.example) **now**"))
    assert not MASKED_LINK.search(line)
    assert "\\*\\*now\\*\\*" in line


def test_provider_failure_reasons_are_escaped_but_the_bots_mentions_render() -> None:
    hostile = failure_message(1, "a cat", OPTIONS, "refused: [appeal here](https://evil.example)")
    assert not MASKED_LINK.search(hostile)
    cancelled = failure_message(1, "a cat", OPTIONS, "Cancelled by <@42>.")
    assert "Cancelled by <@42>." in cancelled


def test_the_result_link_is_a_plain_url_only() -> None:
    url = "https://cdn.example/v/abc_def.mp4?sig=x*y"
    shown = success_message(1, "a cat", OPTIONS, url=url, attached=True, elapsed="1m")
    assert f"🔗 {url}" in shown.splitlines()
    odd = "https://cdn.example/a b>\n# big"
    shown = success_message(1, "a cat", OPTIONS, url=odd, attached=True, elapsed="1m")
    assert "🔗 https://cdn.example/a%20b%3E%0A#%20big" in shown.splitlines()
    shown = success_message(1, "a cat", OPTIONS, url="javascript:x", attached=False, elapsed="1m")
    assert "🔗" not in shown and "gave no public link" in shown


def test_escaping_never_pushes_a_message_past_the_limit_or_cuts_the_refund_line() -> None:
    prompt = "*_`|[" * 1000
    reason = "~" * 5000
    message = failure_message(1, prompt, OPTIONS, reason)
    assert len(message) <= CONTENT_LIMIT
    assert message.endswith("Your credit was refunded; nothing was charged.")
    many_lines = "\n".join(["# x"] * 500)
    message = failure_message(1, many_lines, OPTIONS, reason)
    assert len(prompt_lines(message)) == QUOTE_LINES
    assert message.endswith("Your credit was refunded; nothing was charged.")


def test_a_cut_never_splits_an_escape() -> None:
    cut = escape("a" + "*" * 50, 10)
    assert cut == "a\\*\\*\\*\\*…"
    assert len(cut) <= 10
    assert safe_url("  https://ok.example/x  ") == "https://ok.example/x"
