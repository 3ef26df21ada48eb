"""The only place a job is settled (its credit kept or refunded, its final status) or updated.

Everything in :mod:`bot.jobs` that ends a job calls :func:`settle`; the store
makes a second settlement of the same job a no-op, so a result reported twice
(the poller and a Cancel click racing) never refunds twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.db import Store, StoreError
from bot.db.models import FinalStatus

log = logging.getLogger(__name__)

TRIES = 5
RESTART_REASON = (
    "The bot restarted while making this video, and this kind of job cannot be resumed."
)


async def settle(
    store: Store,
    job_id: int,
    status: FinalStatus,
    *,
    error: str | None = None,
    result_url: str | None = None,
) -> bool | None:
    """End the job: ``completed`` keeps the credit, ``failed``/``cancelled`` refund it.

    Returns True when this call ended it, False when it had already ended, and
    None when the database kept failing (it is reconciled on the next start).
    A busy or failing database is retried a few times with a short backoff.
    """
    for attempt in range(TRIES):
        try:
            return await store.settle(job_id, status, error=error, result_url=result_url)
        except StoreError as exc:
            log.warning("job %s: settling failed (%s), try %d", job_id, exc, attempt + 1)
            await asyncio.sleep(0.2 * 2**attempt)
    log.error("job %s: could not be settled; it will be reconciled on restart", job_id)
    return None


async def record(store: Store, job_id: int, *, critical: bool = False, **fields: Any) -> None:
    """Record progress; a failing database only loses resumability, never the job.

    ``critical`` fields (the provider's task id) are retried like a settlement.
    """
    for attempt in range(TRIES if critical else 1):
        try:
            await store.update_job(job_id, **fields)
            return
        except StoreError as exc:
            log.warning("job %s: could not record %s: %s", job_id, sorted(fields), exc)
            if critical:
                await asyncio.sleep(0.2 * 2**attempt)
