"""Typed errors of the database layer.

Two families, kept apart on purpose:

* :class:`StoreError` means the database itself failed (locked, disk full,
  corrupt, closed). The operation was rolled back; nothing was written.
* :class:`QuotaError` means the database worked and the answer is "no": the
  member is over their daily credits or has too many videos in flight. Cogs turn
  these into a friendly message; they are not faults to log with a traceback.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

# SQLite's primary result codes for "someone else holds the lock". Extended codes
# (e.g. SQLITE_BUSY_SNAPSHOT = 517) carry the primary code in the low byte.
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class StoreError(Exception):
    """The database failed; the operation was rolled back and wrote nothing."""


class StoreBusy(StoreError):
    """Another connection held the write lock for longer than ``busy_timeout``.

    Worth retrying later, unlike most other store errors.
    """


class NotSubmittable(StoreError):
    """:meth:`~bot.db.store.Store.mark_submitting` refused: the job must not be sent.

    ``status`` is the job's status (``None`` when there is no such job) and
    ``already`` is True when it was marked billable before (sending it again
    would make the provider bill twice for one reservation). Nothing was written.
    It is a :class:`StoreError` so that a run that cannot record the submission
    fails (and refunds) the job instead of sending it unrecorded.
    """

    def __init__(self, job_id: int, status: str | None, *, already: bool = False) -> None:
        if status is None:
            why = "no such job"
        elif already:
            why = "it was already submitted"
        else:
            why = f"it is {status}"
        super().__init__(f"job {job_id} cannot be submitted: {why}")
        self.job_id = job_id
        self.status = status
        self.already = already


def wrap_sqlite_error(exc: sqlite3.Error) -> StoreError:
    """The :class:`StoreError` to raise (``from exc``) for a sqlite3 exception."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _BUSY_CODES:
        return StoreBusy(f"database is busy: {exc}")
    return StoreError(f"database error: {exc}")


# PostgreSQL's SQLSTATEs worth retrying: serialization_failure, deadlock_detected,
# lock_not_available (lock_timeout), too_many_connections, cannot_connect_now.
_PG_BUSY_STATES = frozenset({"40001", "40P01", "55P03", "53300", "57P03"})


def wrap_pg_error(exc: BaseException) -> StoreError:
    """The :class:`StoreError` to raise (``from exc``) for an asyncpg or connection error.

    The server's message never contains the connection's password (asyncpg
    does not echo it), so it is kept for the operator.
    """
    state = getattr(exc, "sqlstate", None)
    if state in _PG_BUSY_STATES or isinstance(exc, TimeoutError):
        return StoreBusy(f"database is busy: {exc}")
    return StoreError(f"database error: {type(exc).__name__}: {exc}")


class QuotaError(Exception):
    """Base of the reasons :meth:`~bot.db.store.Store.reserve` refuses a job."""


class QuotaExceeded(QuotaError):
    """The member has used ``used`` of ``limit`` credits today; it resets at ``resets_at``."""

    def __init__(
        self, used: int, limit: int, resets_at: datetime, *, cost: int = 1, extra: int = 0
    ) -> None:
        super().__init__(
            f"daily quota exceeded: {used}/{limit} credits used, resets at {resets_at.isoformat()}"
        )
        self.used = used
        self.limit = limit
        self.resets_at = resets_at
        self.cost = cost  # what the refused job needed
        self.extra = extra  # the member's extra credits (0 when none or not used)

    #: Why: ``"credits"`` (out of credits) or, in :class:`RenderLimitExceeded`, ``"renders"``.
    reason: str = "credits"

    @property
    def remaining(self) -> int:
        """Credits the member still had: what is left today plus extra credits."""
        return max(self.limit - self.used, 0) + self.extra


class RenderLimitExceeded(QuotaExceeded):
    """The member's jobs sent to the provider today (or still active) are at their limit.

    Refunded videos give credits back but the provider still rendered them, so
    a member may not make it render more than ``limit`` credits a day plus
    their ``extra`` credits, what an admin reset forgave, and ``allowance``
    credits of failed or cancelled videos. ``rendered`` is what today's such
    jobs cost; ``cost`` what the refused job needed. A subclass of
    :class:`QuotaExceeded` so that code not told about it still refuses; a
    message should say "too many failed or cancelled videos today".
    """

    reason = "renders"

    def __init__(
        self,
        rendered: int,
        limit: int,
        resets_at: datetime,
        *,
        cost: int,
        extra: int,
        allowance: int,
        forgiven: int = 0,
    ) -> None:
        super().__init__(rendered, limit, resets_at, cost=cost, extra=extra)
        self.args = (
            f"render limit: {rendered} + {cost} credits would pass "
            f"{limit} + {extra} extra + {forgiven} forgiven + {allowance} allowed refunds",
        )
        self.rendered = rendered
        self.allowance = allowance
        self.forgiven = forgiven

    @property
    def remaining(self) -> int:
        """Always 0: whatever credits are left, no more videos can be rendered today."""
        return 0


class TooManyRunning(QuotaError):
    """The member already has ``running`` unfinished jobs, the most allowed is ``limit``."""

    def __init__(self, running: int, limit: int) -> None:
        super().__init__(f"too many unfinished jobs: {running} running, limit {limit}")
        self.running = running
        self.limit = limit


class BudgetExceeded(QuotaError):
    """The job would pass a daily spending cap of the bot or of its server.

    ``unit`` is ``"credits"`` or ``"micros"`` (money); ``spent`` and ``cap``
    are in that unit, and ``needed`` is what the refused job would have added.
    """

    def __init__(
        self, scope: str, unit: str, spent: int, cap: int, needed: int, resets_at: datetime
    ) -> None:
        super().__init__(f"{scope} daily budget: {spent} + {needed} {unit} would pass {cap}")
        self.scope = scope
        self.unit = unit
        self.spent = spent
        self.cap = cap
        self.needed = needed
        self.resets_at = resets_at

    @property
    def left(self) -> int:
        """What the cap still allows today, in ``unit``."""
        return max(self.cap - self.spent, 0)
