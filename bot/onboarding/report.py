"""What ``sora-bot check`` found: one line per check, printed plainly for a terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TextIO

from bot.providers.errors import redact

Status = Literal["ok", "warn", "fail"]
UNICODE_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}
ASCII_MARKS = {"ok": "PASS", "warn": "WARN", "fail": "FAIL"}


@dataclass(frozen=True, slots=True)
class Line:
    """One finding: its status, what was checked, and what it means (or what to fix)."""

    status: Status
    subject: str
    text: str


@dataclass
class Report:
    """The findings in order, and the application id once Discord told it."""

    lines: list[Line] = field(default_factory=list)
    application_id: str | None = None

    def ok(self, subject: str, text: str) -> None:
        """Record a passing check."""
        self.lines.append(Line("ok", subject, text))

    def warn(self, subject: str, text: str) -> None:
        """Record something that works but deserves the operator's attention."""
        self.lines.append(Line("warn", subject, text))

    def fail(self, subject: str, text: str) -> None:
        """Record a failing check; ``text`` says what to fix."""
        self.lines.append(Line("fail", subject, text))

    @property
    def failures(self) -> list[Line]:
        """The failing lines."""
        return [line for line in self.lines if line.status == "fail"]

    @property
    def passed(self) -> bool:
        """True when nothing failed (warnings allowed)."""
        return not self.failures


def marks_for(stream: TextIO) -> dict[str, str]:
    """✓/✗ where the terminal can show them, PASS/FAIL otherwise (an ASCII-only locale)."""
    try:
        "".join(UNICODE_MARKS.values()).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS
    return UNICODE_MARKS


def render(line: Line, marks: dict[str, str], secrets: tuple[str | None, ...]) -> str:
    """``✓ subject: text``, with every secret replaced by ``***`` in case one slipped in."""
    return redact(f"{marks[line.status]} {line.subject}: {line.text}", *secrets)
