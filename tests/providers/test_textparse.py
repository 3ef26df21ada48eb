"""Reading gateways' free text: progress, status, the video link and failure reasons."""

from __future__ import annotations

import time

import pytest

from bot.providers.textparse import (
    StreamTranscript,
    extract_percent,
    extract_status,
    extract_video_url,
    failure_text,
    quoted_in,
    strip_echo,
)

ECHO = '```json\n{\n  "prompt": "make it 99% cuter",\n  "image_urls": ["https://cdn.example/in.png"]\n}\n```\n\n'
GPTPROTO = (
    ECHO + "> ID: `task_01k6x`\n\n> 排队中.....\n\n> 生成中\n\n>🏃 进度 36..44..61..\n\n"
    "> ✅ Video generated successfully, [click here](https://oss.example/sora/83.mp4)"
    " to view video~~~\n\n"
)


@pytest.mark.parametrize(
    ("text", "percent"),
    [
        ("36%", 36.0),
        ("25%", 25.0),
        ("进度 36..", 36.0),
        ("进度36..", 36.0),
        (">🏃 进度 61..", 61.0),
        (">🏃 进度 36..44..61..", 61.0),
        ("**Video Generation Progress**: 40% (processing)", 40.0),
        ("Processing...50%", 50.0),
        ("12.5% done", 12.5),
        ("40 %", 40.0),
        ("40％", 40.0),
        ("0%", 0.0),
        ("100%", 100.0),
        ("10% then 20%\nthen 30%", 30.0),
        (GPTPROTO, 61.0),
        (ECHO + "> 进度 12..", 12.0),
        ("", None),
        ("no progress here", None),
        ("v1.2.3", None),
        ("version 2.0.1..", None),
        ("model sora-2.. ready", None),
        ("150%", None),
        ("1000%", None),
        ("duration: 10 seconds, orientation: portrait (9:16), 720x1280", None),
        ("https://cdn.example/a%2050%25.mp4", None),
        (ECHO, None),  # the prompt's "99%" is not progress
        ('```json\n{"prompt": "99%', None),  # nor while the echo is still arriving
    ],
)
def test_extract_percent(text: str, percent: float | None) -> None:
    assert extract_percent(text) == percent


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("> 排队中", "queued"),
        ("> 排队中.....\n\n> 生成中", "generating"),
        ("⌛️ Task queued, waiting for a free slot", "queued"),
        ("pending", "queued"),
        ("**Video Generation Progress**: 40% (processing)", "generating"),
        (">🏃 进度 36..", "generating"),
        ("Status: IN_PROGRESS", "generating"),
        ("> ✅ Video generated successfully, [click here](https://h/x.mp4)", "completed"),
        ("\n\nvideo generated successful,[click here](https://h/x.mp4)", "completed"),
        ("> 生成完成 ✅", "completed"),
        ("> ❌ 生成失败: policy", "failed"),
        ("Generation failed: timeout", "failed"),
        (GPTPROTO, "completed"),
        ('```json\n{"status": "failed"}\n```\n> 排队中', "queued"),
        ("", None),
        ("a cat walks through snow", None),
    ],
)
def test_extract_status(text: str, status: str | None) -> None:
    assert extract_status(text) == status


@pytest.mark.parametrize(
    ("text", "url"),
    [
        (GPTPROTO, "https://oss.example/sora/83.mp4"),
        ("\n\nvideo generated successful,[click here](https://xxxxxx.mp4)", "https://xxxxxx.mp4"),
        ("> 生成完成 ✅\n[在线播放▶️](https://h.example/x.mp4)", "https://h.example/x.mp4"),
        (
            "![preview](https://h.example/p.webp)\n[在线播放▶️](https://h.example/x.mp4)",
            "https://h.example/x.mp4",
        ),
        (
            "![preview](https://h.example/p.webp)\n[在线播放▶️](https://h.example/v/1)",
            "https://h.example/v/1",
        ),
        (
            "![preview](https://h.example/thumb?id=1)\n[watch](https://h.example/v/1)",
            "https://h.example/v/1",
        ),
        (
            "```html\n<video src='https://h.example/x.mp4' controls></video>\n```",
            "https://h.example/x.mp4",
        ),
        ('```html <video src="https://h.example/x.webm"></video>```', "https://h.example/x.webm"),
        ("<video src=https://h.example/v/2 controls>", "https://h.example/v/2"),
        ("Done: https://h.example/x.mp4.", "https://h.example/x.mp4"),
        ("(see https://h.example/x.mov)", "https://h.example/x.mov"),
        (
            "https://h.example/x.MP4?X-Amz-Signature=ab&e=1",
            "https://h.example/x.MP4?X-Amz-Signature=ab&e=1",
        ),
        ("[docs](https://h.example/help) or https://h.example/v.webm", "https://h.example/v.webm"),
        (
            "see https://h.example/status then [result](https://h.example/r/1)",
            "https://h.example/r/1",
        ),
        ("result: https://h.example/r/1", "https://h.example/r/1"),
        ("[a](https://h.example/1.mp4) [b](https://h.example/2.mp4)", "https://h.example/2.mp4"),
        ("[x](https://en.example/wiki/Cat_(film).mp4)", "https://en.example/wiki/Cat_(film).mp4"),
        (
            ECHO.replace("in.png", "in.mp4") + "[out](https://h.example/out.mp4)",
            "https://h.example/out.mp4",
        ),
        ("", None),
        ("no link at all", None),
        ("![only a preview](https://h.example/p.webp)", None),
        ("data:image/png;base64,AAAA", None),
        (ECHO + "> ❌ 生成失败", None),  # the input image in the echo is not the result
    ],
)
def test_extract_video_url(text: str, url: str | None) -> None:
    assert extract_video_url(text) == url


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            GPTPROTO.split("> ✅")[0]
            + "> ❌ 生成失败: This content may violate our content policies.",
            "❌ 生成失败: This content may violate our content policies.",
        ),
        (
            "⌛️ Task queued, waiting for a slot\n🏃 Progress: 20%\n\nThe render node crashed\n",
            "The render node crashed",
        ),
        ("Sorry, I can't make that.", "Sorry, I can't make that."),
        ("first line\nsecond line", "first line\nsecond line"),
        ("> 排队中......\n> 生成中\n>🏃 进度 36..", ""),
        (ECHO, ""),
        ("", ""),
    ],
)
def test_failure_text(text: str, reason: str) -> None:
    assert failure_text(text) == reason


def test_failure_text_keeps_the_end_of_a_long_reason() -> None:
    text = "start " + "x" * 1000 + " the actual reason"
    reason = failure_text(text, limit=100)
    assert len(reason) <= 100 and reason.startswith("…") and reason.endswith("the actual reason")


def test_strip_echo_keeps_other_fences() -> None:
    html = "```html\n<video src='https://h/x.mp4'></video>\n```"
    assert strip_echo(ECHO + "after") == "\n\nafter"
    assert "prompt" not in strip_echo(ECHO + html) and html in strip_echo(ECHO + html)
    assert strip_echo('```\n[{"a": 1}]\n```') == ""
    assert strip_echo("```text\nplain words\n```") == "```text\nplain words\n```"


# ------------------------------------------------------------------ StreamTranscript


State = tuple[float | None, str | None]


def feed(transcript: StreamTranscript, text: str, size: int) -> list[State]:
    """Feed ``text`` in ``size``-character pieces; the (percent, status) changes seen."""
    seen: list[State] = []
    for start in range(0, len(text), size):
        transcript.add(text[start : start + size])
        state = (transcript.percent, transcript.status)
        if not seen or seen[-1] != state:
            seen.append(state)
    return seen


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_transcript_follows_a_stream_in_any_pieces(size: int) -> None:
    transcript = StreamTranscript()
    seen = feed(transcript, GPTPROTO, size)
    percents: list[float] = []
    for percent, _ in seen:
        if percent is not None and (not percents or percents[-1] != percent):
            percents.append(percent)
    # Pieces small enough never hold two progress marks; larger ones may skip one.
    assert percents == sorted(set(percents)) and percents[-1] == 61.0
    if size <= 3:
        assert percents == [36.0, 44.0, 61.0]
    assert 99.0 not in percents  # the echo never counts
    statuses = [s for _, s in seen if s is not None]
    assert statuses[-1] == "completed"
    if size <= 3:
        assert statuses.index("queued") < statuses.index("generating")
    assert "prompt" not in transcript.text and "in.png" not in transcript.text
    assert extract_video_url(transcript.text) == "https://oss.example/sora/83.mp4"


def test_transcript_drops_a_huge_echo_quickly() -> None:
    transcript = StreamTranscript()
    huge = '```json\n{"image": "data:image/png;base64,' + "A" * 5_000_000 + '"}\n```\n> 进度 5..'
    started = time.perf_counter()
    for start in range(0, len(huge), 4096):
        transcript.add(huge[start : start + 4096])
    assert time.perf_counter() - started < 2.0  # linear, not quadratic
    assert transcript.percent == 5.0 and len(transcript.text) < 1000


def test_transcript_keeps_html_blocks_and_crlf() -> None:
    transcript = StreamTranscript()
    transcript.add("40%\r\n```html\r\n<video src='https://h/x.mp4'></video>\r\n```\r\n")
    assert transcript.percent == 40.0
    assert extract_video_url(transcript.text) == "https://h/x.mp4"
    assert "\r" not in transcript.text


def test_transcript_open_fences_at_the_end() -> None:
    still_echo, html = StreamTranscript(), StreamTranscript()
    still_echo.add('done\n```json\n{"url": "https://cdn/x.mp4"')
    html.add("done\n```html\n<video src='https://h/y.mp4'>")
    assert extract_video_url(still_echo.text) is None
    assert extract_video_url(html.text) == "https://h/y.mp4"


def test_transcript_is_bounded_and_keeps_the_latest_text() -> None:
    transcript = StreamTranscript(max_chars=1000)
    for i in range(500):
        transcript.add(f"line {i} 进度 {i % 100}..\n")
    transcript.add("[video](https://h/final.mp4)")
    assert len(transcript.text) < 2100
    assert "line 499" in transcript.text and "line 0 " not in transcript.text
    assert extract_video_url(transcript.text) == "https://h/final.mp4"


def test_transcript_unfinished_line_is_provisional() -> None:
    transcript = StreamTranscript()
    transcript.add("进度 3")
    assert transcript.percent is None  # "3" may become "36": no suffix yet
    transcript.add("6.")
    assert transcript.percent is None
    transcript.add(".")
    assert transcript.percent == 36.0
    transcript.add("\nstill working\n")
    assert transcript.percent == 36.0  # committed with its line


# ------------------------------------------------------------------ links from the request

EVIL = "https://evil.example/x.mp4"


@pytest.mark.parametrize(
    "text",
    [
        f"生成失败: prompt '{EVIL}' was refused",
        f"> Prompt: dance {EVIL}\nvideo generated successful",
        f"```text\n{EVIL}\n```",
        f"<video src='{EVIL}?sig=abc'></video>",  # the echo added a query string
        "[click here](https://EVIL.example/x%2Emp4)",  # case and escapes do not hide it
    ],
)
def test_a_url_from_the_prompt_is_never_the_result(text: str) -> None:
    assert extract_video_url(text) is not None  # without the prompt it would be taken
    assert extract_video_url(text, exclude=[f"make it dance like {EVIL}"]) is None


def test_a_scheme_less_link_in_the_prompt_counts_too() -> None:
    assert extract_video_url(f"done {EVIL}", exclude=["see evil.example/x.mp4."]) is None


def test_the_real_result_survives_a_prompt_link() -> None:
    text = f"echo: {EVIL}\n[click here](https://cdn.example/v/1.mp4)\nrecap: {EVIL}"
    assert extract_video_url(text, exclude=[EVIL]) == "https://cdn.example/v/1.mp4"


@pytest.mark.parametrize(
    ("url", "prompt", "quoted"),
    [
        ("https://cdn.example/v/1.mp4", "a cat on cdn.example", False),  # the host alone
        ("https://cdn.example/v/1.mp4", "https://cdn.example/v/1.mp4x", False),  # a longer path
        ("https://cdn.example/v/1.mp4", "https://cdn.example/v/1.mp4/more", False),
        ("https://cdn.example/v/1.mp4", "xcdn.example/v/1.mp4", False),  # another host
        ("https://cdn.example/v/1.mp4", "(cdn.example/v/1.mp4)", True),
        ("https://cdn.example/v/1.mp4?sig=1", "http://cdn.example/v/1.mp4", True),
    ],
)
def test_quoted_in_matches_whole_links(url: str, prompt: str, quoted: bool) -> None:
    assert quoted_in(url, [prompt]) is quoted
