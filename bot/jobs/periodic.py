"""Background work repeated at an interval, started and stopped by the job service."""

from __future__ import annotations

import asyncio
import contextlib


class Periodic:
    """One background task running :meth:`_loop` from :meth:`start` until :meth:`stop`.

    Subclasses write ``_loop`` (repeat, sleep, never raise but cancellation)
    and name the task with ``task_name``.
    """

    task_name = "periodic"
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop in the background (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        """Stop the loop (a step under way is cancelled: each step must be safe to cut)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        raise NotImplementedError
