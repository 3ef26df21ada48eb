"""The container health check (``python -m bot.ops.heartbeat``).

When ``HEALTH_PORT`` is set (the Docker image sets it), the check asks the
bot's ``/healthz`` (gateway, database, provider; see :mod:`bot.ops.server`). Without
it, the bot touches ``heartbeat`` beside the database every 30 seconds while it
is connected to Discord, and the check fails when the file is older than 90 seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
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


def check_http(host: str, port: int, *, timeout: float = 4.0) -> tuple[bool, str]:
    """Ask ``/healthz``; returns (healthy, one line saying why)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: ask over loopback
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"healthy ({url})"
    except urllib.error.HTTPError as exc:
        try:
            checks = json.loads(exc.read() or b"{}").get("checks", {})
        except (ValueError, AttributeError):
            checks = {}
        failed = ", ".join(sorted(k for k, v in checks.items() if not v.get("ok"))) or "?"
        return False, f"unhealthy: HTTP {exc.code}, failing: {failed}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"unhealthy: {url} did not answer ({exc})"


def main() -> int:
    """Exit 0 when healthy, 1 otherwise."""
    port = os.environ.get("HEALTH_PORT", "").strip()
    if port.isdigit() and int(port) > 0:
        ok, why = check_http(os.environ.get("HEALTH_HOST", "").strip(), int(port))
        print(why)
        return 0 if ok else 1
    path = heartbeat_path(os.environ.get("DATABASE_PATH", "data/sora-bot.sqlite3"))
    ok = healthy(path)
    print("healthy" if ok else f"unhealthy: no recent heartbeat at {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
