"""When a job becomes billable.

Part of :class:`~bot.db.store.Store`. The operator pays the provider for every
job sent to it, whatever happens next, while the member's credit for a failed
or cancelled video is refunded. This part records the moment a job is sent;
the render gate that keeps refunds from becoming a way to render without end
is checked with each reservation (:mod:`bot.db.reservations`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.db import queries
from bot.db.base import StoreBase
from bot.db.errors import NotSubmittable
from bot.db.models import ACTIVE_STATUSES, utc
from bot.db.plan import Plan, one, run

log = logging.getLogger(__name__)

# Credits of failed or cancelled videos a member may have rendered per day on
# top of their limit (the REFUND_ALLOWANCE_PER_DAY setting's default).
DEFAULT_REFUND_ALLOWANCE = 2


class BillingStore(StoreBase):
    """``mark_submitting``."""

    async def mark_submitting(self, job_id: int, now: datetime | None = None) -> None:
        """Record, durably, that the job's submission is about to be sent: it is billable now.

        Call it right before sending the job to the provider, and do not send
        it if this raises. Sets ``submitted_at`` (never cleared again), status
        ``submitted`` and ``started_at`` if empty, in one transaction committed
        with a full sync, so a crash right after cannot forget what the
        provider will bill.

        Raises :class:`~bot.db.errors.NotSubmittable` (a ``StoreError``), writing
        nothing, when the job is unknown, already final (e.g. cancelled while
        queued), or was marked before (``already``: sending it again would
        make the provider bill twice for one reservation); and ``StoreError``
        when the database fails.
        """
        ts = utc(now).timestamp()

        def plan() -> Plan[None]:
            marked = yield run(queries.MARK_SUBMITTING, (ts, ts, ts, job_id, *ACTIVE_STATUSES))
            if marked != 1:
                row = yield one(queries.JOB_STATE, (job_id,))
                status = None if row is None else str(row[0])
                already = row is not None and row[1] is not None
                raise NotSubmittable(job_id, status, already=already)

        # Durable: a crash (or, on SQLite, a power cut) right after must not
        # forget what the provider will bill.
        await self._write(plan, durable=True)
        log.info("job %s submitting: billable from now", job_id)
