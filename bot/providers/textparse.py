"""Reading free text from video gateways: progress, status, the video link, a failure reason.

Chat-style gateways report everything as prose: progress as
``进度 36..`` or ``40%``, the result as a Markdown link, bare URL or ``<video>``
tag, and often a fenced JSON echo of the request first. These pure functions
read that prose; :class:`StreamTranscript` feeds them a growing stream cheaply.

A URL is the result only when the gateway put it there. Gateways echo the
request (a fenced JSON block) and quote the prompt in failures, so a member who
writes a link into the prompt could otherwise pass it off as "the video": the
echo is skipped, and :func:`extract_video_url` never returns a URL that occurs
in the texts it is told the request contained.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp")

_FENCE = "```"
# A number 0-100 followed by "%" or "..". Not after a letter, digit, "/", "-" or a
# single dot, so "v1.2.3", "sora-2.." and "1.25%" inside words are not progress,
# while "36..44.." (one running line of progress) still reads as 36 then 44.
_PERCENT = re.compile(
    r"(?<![A-Za-z0-9_/\-])(?<![^.]\.)(100(?:\.0+)?|\d{1,2}(?:\.\d+)?)\s*(?:%|％|\.\.)"
)
_ANY_URL = re.compile(r"(?:https?://|data:)\S+", re.IGNORECASE)
_STATUS = re.compile(
    r"(?P<queued>排队|等待中|\bqueued?\b|\bin queue\b|\bpending\b|\bwaiting\b)"
    r"|(?P<completed>生成完成|生成成功|\bgenerated successful(?:ly)?\b|\bcompleted?\b"
    r"|\bsucceeded\b|\bsuccess(?:ful)?\b)"
    r"|(?P<failed>失败|\bfail(?:ed|ure)?\b|\berror\b)"
    r"|(?P<generating>生成中|处理中|进度|\bgenerating\b|\bprocessing\b|\bin[_ ]progress\b"
    r"|\brendering\b|\brunning\b)",
    re.IGNORECASE,
)
_MD_LINK = re.compile(r"(!?)\[[^\]\n]*\]\(\s*<?(https?://[^\s()<>]+(?:\([^\s()<>]*\))?)>?")
_HTML_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']?(https?://[^"'\s<>]+)""", re.IGNORECASE)
_BARE_URL = re.compile(r"https?://[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
# Lines that only narrate progress; dropped from failure reasons.
_NOISE = re.compile(
    r"\bID:\s*\S+|video generation progress|progress|进度|排队中|生成中|queued|generating"
    r"|processing|in[_ ]progress|" + _PERCENT.pattern,
    re.IGNORECASE,
)
_FENCE_TAG = re.compile(r"[A-Za-z0-9_+\-]+")
_MEANINGFUL = re.compile(r"[^\W_]")  # a letter, digit or CJK character


def _json_like_block(content: str) -> bool:
    """Whether the inside of a fenced block (after the opening fence) is a JSON echo."""
    tag = _FENCE_TAG.match(content)
    lang = tag.group() if tag else ""
    body = content[len(lang) :].lstrip()
    return lang.lower() == "json" or (not lang and (not body or body[0] in "{["))


def strip_echo(text: str) -> str:
    """``text`` without fenced JSON blocks (the request echo); other fences are kept.

    An unclosed JSON fence (still streaming) is removed to the end of the text.
    """
    out: list[str] = []
    pos = 0
    while (start := text.find(_FENCE, pos)) != -1:
        end = text.find(_FENCE, start + 3)
        content = text[start + 3 : end if end != -1 else len(text)]
        stop = len(text) if end == -1 else end + 3
        out.append(text[pos:start])
        if not _json_like_block(content):
            out.append(text[start:stop])
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _without_urls(text: str) -> str:
    return _ANY_URL.sub(" ", strip_echo(text))


def extract_percent(text: str) -> float | None:
    """The last progress percentage in ``text`` (``36%``, ``进度 36..``), or None."""
    matches = _PERCENT.findall(_without_urls(text))
    return float(matches[-1]) if matches else None


def extract_status(text: str) -> str | None:
    """The last status word in ``text``: queued, generating, completed or failed."""
    last = None
    for match in _STATUS.finditer(strip_echo(text)):
        last = match.lastgroup
    return last


def _path_endswith(url: str, extensions: tuple[str, ...]) -> bool:
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        return False
    return path.endswith(extensions)


def _trim_url(url: str) -> str:
    """Drop sentence punctuation and an unbalanced ``)`` that a bare-URL match swallowed."""
    while url and url[-1] in ".,;:!?~*'\")":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _url_key(url: str) -> str:
    """Host and path of ``url``, decoded and lower-cased: what an echo keeps of a link."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return unquote(parts.netloc + parts.path).lower().rstrip("/")


def quoted_in(url: str, sources: Iterable[str]) -> bool:
    """Whether ``url`` (its host and path, with or without scheme) occurs in any of ``sources``.

    Matched as a whole link: ``evil.example/x.mp4`` in a prompt rules out
    ``https://evil.example/x.mp4?sig=1`` but a prompt naming ``example`` rules out nothing.
    """
    key = _url_key(url)
    if not key:
        return False
    pattern = re.compile(r"(?<![\w.\-])" + re.escape(key) + r"(?![\w\-]|/[^\s?#])")
    return any(pattern.search(unquote(source).lower()) for source in sources)


def extract_video_url(text: str, exclude: Iterable[str] = ()) -> str | None:
    """The video link in ``text``, or None.

    Prefers a URL ending in a video extension (query string allowed), then a
    Markdown link or ``<video src>`` target, then any http(s) URL; never a
    preview image (``![..](x.webp)``), a URL inside the request echo, nor one
    that occurs in ``exclude`` (the member's prompt and image link: what the
    gateway echoes back is not its answer).
    """
    text = strip_echo(text)
    excluded = [source for source in exclude if source]
    found: list[tuple[int, str, str]] = []  # (position, url, kind)
    images: set[str] = set()
    for match in _MD_LINK.finditer(text):
        if match.group(1):
            images.add(match.group(2))
        else:
            found.append((match.start(2), match.group(2), "link"))
    found += [(m.start(1), m.group(1), "link") for m in _HTML_ATTR.finditer(text)]
    found += [(m.start(), _trim_url(m.group()), "bare") for m in _BARE_URL.finditer(text)]
    found.sort(key=lambda item: item[0])  # "last" means last in the text
    usable = [
        (url, kind)
        for _, url, kind in found
        if url
        and url not in images
        and not _path_endswith(url, IMAGE_EXTENSIONS)
        and not quoted_in(url, excluded)
    ]
    tiers = (
        [url for url, _ in usable if _path_endswith(url, VIDEO_EXTENSIONS)],
        [url for url, kind in usable if kind == "link"],
        [url for url, _ in usable],
    )
    for tier in tiers:
        if tier:
            return tier[-1]
    return None


def _narrates_progress(line: str) -> bool:
    """Whether a line reports progress or a waiting/working state (not an outcome)."""
    if extract_percent(line) is not None:
        return True
    statuses = {m.lastgroup for m in _STATUS.finditer(line)}
    return bool(statuses) and statuses <= {"queued", "generating"}


def failure_text(text: str, limit: int = 300) -> str:
    """A readable failure reason from a stream's text: no echo, no progress chatter, short.

    Gateways put the reason after the last progress line, so that part is used
    when there is one; the end is kept when the reason is too long.
    """
    lines: list[str] = []
    for raw in strip_echo(text).splitlines():
        line = re.sub(r"\.{3,}", " ", raw).strip().lstrip(">").strip()
        if not line:
            continue
        if _narrates_progress(line):
            lines.clear()  # what came before is history, not the reason
        elif _MEANINGFUL.search(_NOISE.sub(" ", line)):
            lines.append(line)
    if not lines:  # nothing after the progress: fall back to every meaningful line
        lines = [
            line
            for raw in strip_echo(text).splitlines()
            if (line := raw.strip().lstrip(">").strip())
            and not _narrates_progress(line)
            and _MEANINGFUL.search(_NOISE.sub(" ", line))
        ]
    reason = "\n".join(lines).strip()
    if len(reason) > limit:
        reason = "…" + reason[-(limit - 1) :].lstrip()
    return reason


class StreamTranscript:
    """Text streamed in small pieces, with its latest progress and status kept current.

    Works line by line so a long stream is not rescanned on every token. A fenced
    JSON block (the request echo, which can hold a whole inline image) is dropped
    once it closes and never stored past ``MAX_BLOCK``; the kept text is capped at
    ``max_chars``, oldest lines first, since results and reasons come last.
    """

    MAX_BLOCK = 64 * 1024
    TAIL = 1024  # how much of the unfinished line is read for provisional progress

    def __init__(self, max_chars: int = 256 * 1024) -> None:
        self._max = max_chars
        self._lines: deque[str] = deque()
        self._size = 0
        self._parts: list[str] = []  # the unfinished last line
        self._parts_len = 0
        self._block: list[str] | None = None  # lines of a fence still open
        self._block_size = 0
        self._percent: float | None = None  # from complete lines
        self._status: str | None = None
        self.percent: float | None = None  # the latest, including the unfinished line
        self.status: str | None = None

    def add(self, chunk: str) -> None:
        """Append streamed text and update :attr:`percent` and :attr:`status`."""
        *complete, rest = chunk.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for index, line in enumerate(complete):
            self._line(self._take_partial() + line if index == 0 else line)
        if rest:
            # Pieces, not one string: appending to a long line must not copy it each time.
            self._parts.append(rest)
            self._parts_len += len(rest)
            if self._parts_len > 2 * self._max:
                self._parts = [self._take_partial()[-self._max :]]
                self._parts_len = len(self._parts[0])
        self.percent, self.status = self._percent, self._status
        tail = self._partial_tail()
        if self._block is None and tail and tail.count(_FENCE) % 2 == 0:
            self.percent = _or(extract_percent(tail), self.percent)
            self.status = extract_status(tail) or self.status

    def _take_partial(self) -> str:
        text = "".join(self._parts)
        self._parts, self._parts_len = [], 0
        return text

    def _partial_tail(self) -> str:
        pieces: list[str] = []
        size = 0
        for piece in reversed(self._parts):
            pieces.append(piece)
            size += len(piece)
            if size >= self.TAIL:
                break
        return "".join(reversed(pieces))[-self.TAIL :]

    @property
    def text(self) -> str:
        """The kept text: everything but JSON echo blocks (and the oldest lines if huge)."""
        lines = list(self._lines)
        if self._block is not None:
            if self._block_is_json(["\n".join(self._block), "".join(self._parts)]):
                return "\n".join(lines)  # the unfinished line belongs to the echo too
            lines += self._block
        return "\n".join([*lines, "".join(self._parts)])

    def _line(self, line: str) -> None:
        if self._block is not None:
            if self._block_size < self.MAX_BLOCK:
                self._block.append(line)
                self._block_size += len(line) + 1
            if line.count(_FENCE) % 2:
                block, self._block = self._block, None
                if not self._block_is_json(block):
                    for kept in block:
                        self._keep(kept)
            return
        if line.count(_FENCE) % 2:
            self._block, self._block_size = [line], len(line)
            return
        self._keep(line)
        self._percent = _or(extract_percent(line), self._percent)
        self._status = extract_status(line) or self._status

    def _block_is_json(self, block: list[str] | None = None) -> bool:
        joined = "\n".join(block if block is not None else self._block or [])
        start = joined.find(_FENCE)
        return self._block_size >= self.MAX_BLOCK or _json_like_block(joined[start + 3 :])

    def _keep(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > self._max and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1


def _or(value: float | None, default: float | None) -> float | None:
    return default if value is None else value
