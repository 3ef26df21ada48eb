"""Writing ``.env``: the operator's answers put into a template, owner-only, all at once."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

# Values made only of these need no quotes (tokens, keys, URLs, ids, model names).
PLAIN = re.compile(r"[A-Za-z0-9_./:@,+=-]*")


def quote(value: str) -> str:
    """``value`` as python-dotenv reads it back unchanged: bare when plain, else single-quoted."""
    if PLAIN.fullmatch(value):
        return value
    # Single quotes turn off ${VAR} expansion; only \\ and \' are escapes inside them.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``KEY=...`` line of ``values`` replaced; missing keys appended.

    Comments and every other setting are kept, so replacing an operator's ``.env``
    changes only what they were asked about.
    """
    pending = dict(values)
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in pending:
            lines.append(f"{key}={quote(pending.pop(key))}")
        else:
            lines.append(line)
    if pending:
        lines += ["", "# Written by sora-bot setup"]
        lines += [f"{key}={quote(value)}" for key, value in pending.items()]
    return "\n".join(lines).strip("\n") + "\n"


def write_env(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it atomically.

    The file is created 0600 before any secret is written to it, then renamed
    over ``path``, so no other user can ever read the token, even for a moment,
    and a crash leaves the old file (or none), never half of one.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)  # whatever the umask did
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
