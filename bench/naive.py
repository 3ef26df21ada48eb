"""The naive progress strategy peer bots use: one edit per progress event, in order.

Drop-in for :class:`bot.scheduler.EditScheduler` (same ``handle()`` and handle
interface) so the bench can run the very same bot with it. Each message's
updates are queued and sent one after another as fast as discord.py lets them
go; an error is logged and the next update is sent anyway, as peers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Edit = Callable[[str], Awaitable[None]]


class NaiveHandle:
    """Every ``update()`` becomes an edit."""

    def __init__(self, owner: NaiveEdits, edit: Edit, name: str) -> None:
        self._owner = owner
        self._edit = edit
        self.name = name
        self._queue: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0
        self.errors = 0
        self.failed = False

    def update(self, content: str) -> None:
        """Queue ``content`` for its own edit."""
        self._queue.append(content)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            content = self._queue.popleft()
            self._owner.sent += 1
            try:
                await self._edit(content)
                self.edits += 1
            except Exception as exc:
                self.errors += 1
                self._owner.errors += 1
                log.debug("%s: edit failed: %s", self.name, exc)

    @contextlib.asynccontextmanager
    async def slot(self, via_interaction: bool, channel: int | None) -> AsyncIterator[None]:
        """A final message's request goes at once: peers do not pace them either."""
        yield

    async def close(self) -> None:
        """Stop: drop what is queued and cancel the edit in flight."""
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class NaiveEdits:
    """Hands out :class:`NaiveHandle` s; counts what they sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.errors = 0
        self._handles: list[NaiveHandle] = []

    def handle(self, edit: Edit, source: Any = None, *, name: str) -> NaiveHandle:
        """A handle for one message (``source``, the route, is ignored: peers do not look)."""
        handle = NaiveHandle(self, edit, name)
        self._handles.append(handle)
        return handle

    async def close(self) -> None:
        """Stop every handle."""
        for handle in self._handles:
            await handle.close()
