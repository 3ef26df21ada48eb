"""The incremental SSE decoder, fed the way networks deliver bytes: in arbitrary pieces."""

from __future__ import annotations

import pytest

from bot.providers.sse import SSEDecoder, SSEError, SSEEvent

CHAT_STREAM = (
    ": keep-alive\n\n"
    'data: {"choices":[{"delta":{"content":"> 排队中"}}]}\n\n'
    'data: {"choices":[{"delta":{"content":">🏃 进度 36.."}}]}\n\n'
    "data: [DONE]\n\n"
)
EXPECTED = [
    '{"choices":[{"delta":{"content":"> 排队中"}}]}',
    '{"choices":[{"delta":{"content":">🏃 进度 36.."}}]}',
    "[DONE]",
]


def decode(*chunks: bytes) -> list[SSEEvent]:
    """Every event from feeding ``chunks`` in order, then flushing."""
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_line_endings(eol: str) -> None:
    raw = CHAT_STREAM.replace("\n", eol).encode()
    assert [e.data for e in decode(raw)] == EXPECTED


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_split_at_every_byte(eol: str) -> None:
    # Includes splits inside "\r\n" and inside the multi-byte characters 排, 🏃, 进.
    raw = CHAT_STREAM.replace("\n", eol).encode()
    for cut in range(1, len(raw)):
        events = decode(raw[:cut], raw[cut:])
        assert [e.data for e in events] == EXPECTED, f"split at byte {cut}"


def test_one_byte_at_a_time() -> None:
    raw = CHAT_STREAM.replace("\n", "\r\n").encode()
    events = decode(*(raw[i : i + 1] for i in range(len(raw))))
    assert [e.data for e in events] == EXPECTED
    assert events[-1].is_done and not events[0].is_done


def test_events_come_out_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b": 1}\n") == []  # the blank line has not arrived yet
    assert [e.data for e in decoder.feed(b"\ndata: x")] == ['{"a": 1}']
    assert [e.data for e in decoder.flush()] == ["x"]


def test_cr_at_end_of_read_then_lf_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # If the LF were taken as a second line ending, "a" would be dispatched here.
    assert decoder.feed(b"\n") == []
    assert [e.data for e in decoder.feed(b"\r\n")] == ["a"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("data: one\ndata: two\n\n", [SSEEvent("one\ntwo")]),
        ("data:no-space\n\n", [SSEEvent("no-space")]),
        ("data:  two spaces\n\n", [SSEEvent(" two spaces")]),
        ("data\n\n", [SSEEvent("")]),
        (": only a comment\n\n", []),
        (
            "event: progress\nid: 7\nretry: 1500\ndata: x\n\n",
            [SSEEvent("x", "progress", "7", 1500)],
        ),
        ("event: ping\n\ndata: y\n\n", [SSEEvent("y")]),  # no data: nothing, type resets
        ("retry: soon\ndata: z\n\n", [SSEEvent("z")]),
        ("unknown: field\ndata: z\n\n", [SSEEvent("z")]),
        ("\ufeffdata: bom\n\n", [SSEEvent("bom")]),
        ("data: [DONE]\n\n", [SSEEvent("[DONE]")]),
        ("data: tail without blank line", [SSEEvent("tail without blank line")]),
        ("\n\n\n", []),
    ],
)
def test_fields(raw: str, expected: list[SSEEvent]) -> None:
    assert decode(raw.encode()) == expected


def test_last_event_id_persists() -> None:
    events = decode(b"id: 1\ndata: a\n\ndata: b\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1")]


def test_done_detection() -> None:
    assert SSEEvent("[DONE]").is_done
    assert SSEEvent(" [DONE] ").is_done
    assert not SSEEvent('{"content": "[DONE]"}').is_done


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert [e.data for e in decode(b"data: a\xffb\n\n")] == ["a\ufffdb"]


def test_truncated_utf8_at_eof_is_replaced() -> None:
    assert [e.data for e in decode("data: 进".encode()[:-1])] == ["\ufffd"]


def test_runaway_line_is_refused() -> None:
    decoder = SSEDecoder(max_line_chars=100)
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(SSEError):
        decoder.feed(b"x" * 60)


def test_long_line_in_many_pieces() -> None:
    decoder = SSEDecoder()
    for _ in range(1000):
        assert decoder.feed(b"data: " if _ == 0 else b"0123456789") == []
    (event,) = decoder.feed(b"\n\n")
    assert event.data == "0123456789" * 999
