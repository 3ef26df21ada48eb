"""A heartbeat file for the container health check (``python -m bot.health``).

The bot touches ``heartbeat`` beside the database every 30 seconds while it is
connected to Discord; the check fails when the file is older than 90 seconds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

INTERVAL = 30.0
MAX_AGE = 90.0


def heartbeat_path(database_path: str) -> Path:
    """Where the heartbeat lives: next to the database, on the same volume."""
    return Path(database_path).resolve().parent / "heartbeat"


def beat(path: Path) -> None:
    """Record that the bot is alive and connected now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{time.time():.0f}\n")


def healthy(path: Path, *, max_age: float = MAX_AGE, now: float | None = None) -> bool:
    """Whether the last beat is recent enough."""
    try:
        age = (now if now is not None else time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age <= max_age


def main() -> int:
    """Exit 0 when healthy, 1 otherwise."""
    path = heartbeat_path(os.environ.get("DATABASE_PATH", "data/sora-bot.sqlite3"))
    ok = healthy(path)
    print("healthy" if ok else f"unhealthy: no recent heartbeat at {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
