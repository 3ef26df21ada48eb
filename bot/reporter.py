"""Coalesced, throttled edits of one progress message.

Providers can report many progress steps a second; Discord allows about five
edits per two seconds per interaction token. A :class:`ThrottledEditor` keeps
only the newest content and sends it at most once per ``interval`` (the first
update goes out at once), so the message always converges on the newest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Edit = Callable[[str], Awaitable[None]]


class ThrottledEditor:
    """Sends the newest ``update()`` through ``edit`` at most every ``interval`` seconds."""

    def __init__(self, edit: Edit, interval: float, *, name: str = "progress") -> None:
        self._edit = edit
        self.interval = interval
        self._name = name
        self._pending: str | None = None
        self._shown: str | None = None
        self._wakeup = asyncio.Event()
        self._last_sent = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self.failed = False
        self.edits = 0

    def update(self, content: str) -> None:
        """Record the newest content; it is sent when the interval allows."""
        if self.failed or content == self._shown:
            self._pending = None if content == self._shown else self._pending
            return
        self._pending = content
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"edits:{self._name}")

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # Pacing, not synchronisation: wait out the rest of the interval.
            delay = self._last_sent + self.interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            content, self._pending = self._pending, None
            if content is None or content == self._shown:
                continue
            self._last_sent = time.monotonic()
            try:
                await self._edit(content)
            except Exception as exc:  # the message is gone or the token expired
                log.warning("%s: editing the progress message failed: %s", self._name, exc)
                self.failed = True
                return
            self._shown = content
            self.edits += 1

    async def close(self) -> None:
        """Stop editing; whatever is pending is dropped (a final edit follows)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._pending = None
