"""An incremental Server-Sent Events decoder: feed it bytes as they arrive, get events.

Follows the WHATWG ``text/event-stream`` rules (LF, CRLF and lone CR all end a
line; ``:`` lines are comments; several ``data:`` lines join with a newline) and
copes with what chat gateways do on the wire: an event, a line ending or a
multi-byte UTF-8 character may be split across any two network reads.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

DONE = "[DONE]"
# A provider that never ends a line would otherwise make the buffer grow without
# bound; 32 MiB still fits a request echo carrying a large inline image.
MAX_LINE_CHARS = 32 * 1024 * 1024

_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEError(ValueError):
    """The stream is not usable as Server-Sent Events (e.g. a line is absurdly long)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``data`` is the joined ``data:`` lines."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    @property
    def is_done(self) -> bool:
        """Whether this is the OpenAI-style end marker ``data: [DONE]``."""
        return self.data.strip() == DONE


class SSEDecoder:
    """Turns a byte stream into :class:`SSEEvent` objects, one :meth:`feed` at a time.

    Call :meth:`feed` with every chunk read from the network and :meth:`flush`
    once at end of stream.
    """

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line_chars
        self._partial: list[str] = []  # text after the last line ending
        self._partial_len = 0
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk`` and return the events it completed (often none)."""
        return self._feed_text(self._utf8.decode(chunk))

    def flush(self) -> list[SSEEvent]:
        """End of stream: dispatch what is pending.

        Strictly, an event not followed by a blank line is discarded at EOF; some
        gateways omit that last blank line, so a pending event is dispatched instead.
        """
        events = self._feed_text(self._utf8.decode(b"", final=True))
        if self._partial:
            event = self._line(self._take_partial(""))
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")  # a BOM is allowed once, at the very start
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        events: list[SSEEvent] = []
        start = 0
        for match in _LINE_END.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                # Maybe the CR of a CRLF whose LF is in the next read.
                self._skip_lf = True
            event = self._line(self._take_partial(text[start : match.start()]))
            if event is not None:
                events.append(event)
            start = match.end()
        if start < len(text):
            # Kept as pieces: joining on every read would be quadratic for a long line.
            self._partial.append(text[start:])
            self._partial_len += len(text) - start
            if self._partial_len > self._max_line:
                raise SSEError(f"an event-stream line exceeds {self._max_line} characters")
        return events

    def _take_partial(self, tail: str) -> str:
        """The pending start of a line joined with its ``tail``; clears the pending text."""
        if not self._partial:
            return tail
        line = "".join(self._partial) + tail
        self._partial, self._partial_len = [], 0
        return line

    def _line(self, line: str) -> SSEEvent | None:
        """Process one complete line; returns an event when the line is blank."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, often a keep-alive
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        else:
            log.debug("ignoring unknown event-stream field %r", name[:40])
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None  # per the spec, an event with no data is not dispatched
        return SSEEvent("\n".join(data), event or "message", self._last_id, self._retry)
