"""The fakes of a bench run, in the bench's own process, with a few stopwatches.

The fake Discord lives with the tests (``tests/support/fake_discord``); it is
imported from there. It enforces Discord's limits here: 5 edits per 2 s per interaction
token, 50 bot-token requests per second (interaction endpoints exempt), 30 per
minute per channel, each answering 429 as Discord does.

Stopwatches (all ``time.monotonic()``, one clock for every process on Linux):

- :class:`EndTimes` records when the fake provider ended each job (for push,
  that is when it sent the hook);
- :func:`completion_observer` records when each job's status was first
  answered as completed (for the polling comparison).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the fake Discord lives with the tests

from bot.fake_provider.common import FakeJob  # noqa: E402
from tests.support.fake_discord import Bucket, FakeDiscord  # noqa: E402

KEY = "sk-bench-provider-key"
DONE = {"completed", "SUCCESS", "succeeded"}


def enforce_discord_limits(fake: FakeDiscord) -> None:
    """Switch on the fake's buckets with Discord's numbers."""
    fake.rate_limits.webhook_edit = Bucket(limit=5, period=2.0)
    fake.rate_limits.global_ = Bucket(limit=50, period=1.0)
    fake.rate_limits.channel_messages = Bucket(limit=30, period=60.0)


class EndTimes:
    """When the fake provider ended each job, by job id (instrumenting ``FakeJob._end``)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._original: Any = None

    def __enter__(self) -> EndTimes:
        original = FakeJob._end
        self._original = original
        times = self.at

        def _end(job: FakeJob, outcome: Any, percent: int) -> Any:
            times.setdefault(job.id, time.monotonic())
            return original(job, outcome, percent)

        FakeJob._end = _end  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        FakeJob._end = self._original  # type: ignore[method-assign]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def completion_observer(first_done: dict[str, float]) -> Any:
    """A middleware noting when each job's status poll first answered "completed"."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        path = request.path
        if request.method == "GET" and is_status_path(path):
            body = getattr(response, "body", None)
            if isinstance(body, bytes) and body.startswith(b"{"):
                try:
                    status = json.loads(body).get("status")
                except ValueError:
                    status = None
                if status in DONE:
                    first_done.setdefault(path.rsplit("/", 1)[1], time.monotonic())
        return response

    return observe


def is_status_path(path: str) -> bool:
    """Whether ``path`` is one job's status (``videos`` or ``generations``), not its content."""
    parts = path.strip("/").split("/")
    return (parts[:2] == ["v1", "videos"] and len(parts) == 3) or (
        parts[:3] == ["v2", "videos", "generations"] and len(parts) == 4
    )


def job_index(prompt: object) -> int | None:
    """The bench's job number from a prompt ``"bench job N: ..."``."""
    if not isinstance(prompt, str) or not prompt.startswith("bench job "):
        return None
    head = prompt[len("bench job ") :].split(":", 1)[0]
    return int(head) if head.isdigit() else None
