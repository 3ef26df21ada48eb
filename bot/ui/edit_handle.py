"""One message's progress edits: :class:`EditHandle`, and what it needs from the scheduler.

The design (budgets, intervals, finals ahead of progress, takeovers) is in
:mod:`bot.ui.edits`, where :class:`~bot.ui.edits.EditScheduler` decides when
each message is edited. This module holds the message's side:

- :class:`EditHandle` keeps a message's newest content, performs the edit when
  the scheduler says, retries a failed edit after a backoff or gives up for good
  (Discord's 401/403/404, or an error that is not a network or HTTP one), and on
  ``close()`` lets an edit in flight end before the final message is sent;
- :class:`RouteSource`: where a message's edits go right now (interaction
  webhook, or bot token in a channel);
- :class:`EditQueue`: the scheduler as a handle calls it. The handle knows the
  scheduler only through it, so this module never imports :mod:`bot.ui.edits`,
  which imports this one (import-linter forbids cycles).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import aiohttp
import discord

from bot.config import EditBudget
from bot.ui.rate_window import Window

log = logging.getLogger(__name__)

Edit = Callable[[str], Awaitable[None]]
# How long close() lets an edit in flight finish before cancelling it. Cancelling a
# discord.py request mid-way can leave its route's rate-limit bucket stalled for 30 s,
# holding up every later request in that channel (final messages included).
CLOSE_GRACE = 5.0
# After a failed edit that may work later (a 5xx, a 429 that discord.py gave up on,
# a dropped connection), the next try waits this long, doubling up to RETRY_MAX.
RETRY_BACKOFF = 1.0
RETRY_MAX = 60.0
# Discord's answers that mean the message cannot be edited again: the token or the
# bot lost access (401/403) or the message is gone (404). Only these end a handle.
FINAL_STATUSES = frozenset({401, 403, 404})


class RouteSource(Protocol):
    """Where a message's edits go right now (:class:`~bot.ui.messenger.JobMessenger` is one)."""

    channel_id: int

    @property
    def via_interaction(self) -> bool:
        """True while edits use the interaction token (exempt from the global limit)."""
        ...


class EditQueue(Protocol):
    """The scheduler as a handle sees it (:class:`~bot.ui.edits.EditScheduler` is one)."""

    @property
    def budget(self) -> EditBudget:
        """The rate budgets; a handle's token window is sized by them."""
        ...

    def wants(self, handle: EditHandle) -> None:
        """``handle`` has new content to show."""
        ...

    def forget(self, handle: EditHandle) -> None:
        """``handle`` was closed: no more edits for it (until it is updated again)."""
        ...

    def slot(
        self, via_interaction: bool, channel: int | None, *, token: Window | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Wait until one request on this route fits its windows; hold its place while it runs."""
        ...


class EditHandle:
    """One message's progress edits; the interface of the old per-message throttle.

    ``update(content)`` records the newest content; the scheduler sends it when
    the message's turn comes. ``close()`` stops editing (a pending state is
    dropped, and an edit in flight is waited for, or cancelled after
    ``CLOSE_GRACE``, so the final message that follows is never overwritten).
    ``edits`` counts successful edits. :meth:`slot` paces the message's
    other requests (its final message above all) ahead of progress edits. A
    failed edit is retried with the newest content after a backoff
    (:data:`RETRY_BACKOFF`, doubling to :data:`RETRY_MAX`) unless Discord said
    the message can never be edited again (a :class:`discord.HTTPException`
    with status 401, 403 or 404) or the error is not a network or HTTP one (a
    bug: retrying would only repeat it); then
    ``failed`` is set and the handle stays silent.
    """

    def __init__(
        self, scheduler: EditQueue, edit: Edit, source: RouteSource | None, name: str
    ) -> None:
        self._scheduler = scheduler
        self._edit = edit
        self.source = source
        self.name = name
        self.pending: str | None = None
        self.shown: str | None = None
        self.last_sent = -float("inf")
        self.inflight: asyncio.Task[None] | None = None
        self.taken: list[Window] = []  # the windows the edit in flight counts against
        self.window = Window(scheduler.budget.token_limit, scheduler.budget.token_period)
        self.failed = False
        self.closed = False
        self.edits = 0
        self.failures = 0  # consecutive failed edits (for the backoff)
        self.retry_at = -float("inf")  # loop time before which no retry is sent

    def slot(self, via_interaction: bool, channel: int | None) -> AbstractAsyncContextManager[None]:
        """The budget of one request on this message outside progress, for its duration.

        ``via_interaction``: through the interaction webhook (this message's
        token window); otherwise with the bot token, in ``channel`` (``None``: a
        request on no channel, e.g. opening a DM). See :meth:`~bot.ui.edits.EditScheduler.slot`.
        """
        token = self.window if via_interaction else None
        return self._scheduler.slot(via_interaction, channel, token=token)

    def route(self) -> tuple[bool, int | None]:
        """``(via_interaction, channel_id)`` as of now."""
        if self.source is None:
            return True, None
        return self.source.via_interaction, self.source.channel_id

    def update(self, content: str) -> None:
        """Record the newest content; it is sent when the scheduler allows."""
        if self.failed or content == self.shown:
            if content == self.shown:
                self.pending = None
            return
        self.pending = content
        self.closed = False
        self._scheduler.wants(self)

    async def close(self) -> None:
        """Stop editing: drop what is pending; an edit in flight ends first (see CLOSE_GRACE)."""
        self.pending = None
        self.closed = True
        self._scheduler.forget(self)
        task = self.inflight
        if task is not None:
            await asyncio.wait([task], timeout=CLOSE_GRACE)
            task.cancel()  # only if it overran: a no-op once it is done
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send(self, content: str) -> None:
        """Perform one edit (called by the scheduler)."""
        try:
            await self._edit(content)
        except Exception as exc:
            if not _transient(exc):
                log.warning("%s: editing the progress message failed for good: %s", self.name, exc)
                self.failed = True
                self.pending = None
                return
            self.failures += 1
            delay = min(RETRY_BACKOFF * 2 ** (self.failures - 1), RETRY_MAX)
            retry_after = getattr(exc, "retry_after", None)  # discord.RateLimited says
            if isinstance(retry_after, int | float):
                delay = max(delay, min(float(retry_after), RETRY_MAX))
            log.warning(
                "%s: editing the progress message failed (%d in a row), retrying in %.1fs: %s",
                self.name,
                self.failures,
                delay,
                exc,
            )
            self.retry_at = asyncio.get_running_loop().time() + delay
            if self.closed:
                return
            if self.pending is None:  # nothing newer came meanwhile: show this one again
                self.pending = content
            self._scheduler.wants(self)
        else:
            self.shown = content
            self.edits += 1
            self.failures = 0


def _transient(exc: Exception) -> bool:
    """Whether a failed edit may work if tried again later."""
    if isinstance(exc, discord.HTTPException):
        return exc.status not in FINAL_STATUSES
    # RateLimited: discord.py would not wait that long; connection and timeout errors.
    return isinstance(exc, discord.RateLimited | aiohttp.ClientError | OSError | TimeoutError)
