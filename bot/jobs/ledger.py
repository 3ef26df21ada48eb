"""The only place a job is settled (its credit kept or refunded, its final status) or updated.

Everything in :mod:`bot.jobs` that ends a job calls :func:`settle`; the store
makes a second settlement of the same job a no-op, so a result reported twice
(the poller and a Cancel click racing) never refunds twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.db import Store, StoreError
from bot.db.errors import NotSubmittable
from bot.db.models import FinalStatus
from bot.errors import UserError
from bot.i18n import N_, msg

log = logging.getLogger(__name__)

TRIES = 5
RESTART_REASON = N_(
    "The bot restarted while making this video, and this kind of job cannot be resumed."
)


async def settle(
    store: Store,
    job_id: int,
    status: FinalStatus,
    *,
    error: str | None = None,
    result_url: str | None = None,
    refund: bool = True,
    refused: bool = False,
) -> bool | None:
    """End the job: ``completed`` keeps the credit, ``failed``/``cancelled`` refund it.

    ``refund=False`` ends a failed or cancelled job without giving the credit
    back (a Cancel confirmed after the provider took the job: it bills the render).
    ``refused`` (the provider answered the submission with a refusal, so it
    never took the job) takes the job out of the operator's spend.

    Returns True when this call ended it, False when it had already ended, and
    None when the database kept failing (hand it to :class:`Unsettled`).
    A busy or failing database is retried a few times with a short backoff.
    """
    for attempt in range(TRIES):
        try:
            return await store.settle(
                job_id, status, error=error, result_url=result_url, refund=refund, refused=refused
            )
        except StoreError as exc:
            log.warning("job %s: settling failed (%s), try %d", job_id, exc, attempt + 1)
            await asyncio.sleep(0.2 * 2**attempt)
    log.error("job %s: could not be settled; it is left to the reconciler", job_id)
    return None


MARK_TRIES = 3  # quick: a member waits, and a job that cannot be marked is not sent


class NotMarked(UserError):
    """The submission could not be recorded, so the job was not sent to the provider."""

    def __init__(self) -> None:
        super().__init__(
            msg("The bot could not record this video before sending it, so it was not sent.")
        )


async def mark_submitting(store: Store, job_id: int) -> None:
    """Record, durably, that the job is about to be sent; raise :class:`NotMarked` if not.

    A busy or failing database gets a couple of quick retries. A job the store
    refuses (already final, or marked before: a second send would be billed
    twice) is not retried. Either way the caller must not send the job.
    """
    for attempt in range(MARK_TRIES):
        try:
            await store.mark_submitting(job_id)
            return
        except NotSubmittable as exc:
            log.warning("job %s not sent: %s", job_id, exc)
            raise NotMarked() from None
        except StoreError as exc:
            log.warning(
                "job %s: could not mark it submitting (%s), try %d", job_id, exc, attempt + 1
            )
            if attempt + 1 < MARK_TRIES:
                await asyncio.sleep(0.05 * 2**attempt)
    log.error("job %s: could not record its submission; not sent", job_id)
    raise NotMarked()


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


@dataclass(frozen=True, slots=True)
class Settlement:
    """A job's end the database would not take yet: what :func:`settle` was asked."""

    job_id: int
    status: FinalStatus
    error: str | None = None
    result_url: str | None = None
    refund: bool = True
    refused: bool = False


class Unsettled:
    """Settlements that failed every try; the reconciler retries them until they stick.

    A job listed here has ended as far as its run is concerned (the member was
    told): the reconciler must settle it as recorded, never resume it.
    """

    def __init__(self) -> None:
        self._pending: dict[int, Settlement] = {}

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, settlement: Settlement) -> None:
        """Hand a settlement over (the first one for a job wins: a job ends once)."""
        self._pending.setdefault(settlement.job_id, settlement)

    async def retry(self, store: Store) -> int:
        """Try each pending settlement once; returns how many stuck (ended or already final)."""
        done = 0
        for job_id, s in list(self._pending.items()):
            try:
                ended = await store.settle(
                    job_id,
                    s.status,
                    error=s.error,
                    result_url=s.result_url,
                    refund=s.refund,
                    refused=s.refused,
                )
            except StoreError as exc:
                log.warning("job %s: settling still fails (%s); will retry", job_id, exc)
                continue
            del self._pending[job_id]
            done += 1
            log.info("job %s: reconciled as %s%s", job_id, s.status, "" if ended else " (already)")
        return done
