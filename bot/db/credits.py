"""Reserving a member's credits with a job, and settling the job: the money path.

Part of :class:`~bot.db.store.Store`. A reservation's checks and writes are
:func:`bot.db.reservations.reserve_plan`; a settlement's SQL is in
:mod:`bot.db.credit_queries`. The reservations of a process go in batches
(:mod:`bot.db.batcher`): one plan per batch, each member's numbers read once
however many of their calls it carries, each call still getting its own
answer. On PostgreSQL, where every statement is a round trip, settlements are
batched too, one statement per batch; on SQLite each settlement is a plan of
its own in the writer's group commit, which puts every plan waiting into one
transaction (:mod:`bot.db.group_commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.db import credit_queries as cq
from bot.db import operator_queries as oq
from bot.db.base import Backend, StoreBase
from bot.db.batcher import Batcher, Ticket
from bot.db.billing import DEFAULT_REFUND_ALLOWANCE
from bot.db.group_commit import Abandoned
from bot.db.guild_models import SpendCap
from bot.db.models import FINAL_STATUSES, FinalStatus, Job, dump_options, quota_day, utc
from bot.db.plan import Plan, all_rows, one, run, single
from bot.db.reservations import Outcome, Reservation, reserve_plan

log = logging.getLogger(__name__)

#: One settle() call's parameters (SETTLE_JOB_SQLITE's names).
Settlement = dict[str, Any]


class CreditStore(StoreBase):
    """``reserve`` and ``settle``."""

    def __init__(self, backend: Backend) -> None:
        """Wrap an open backend, batching this process's credit operations."""
        super().__init__(backend)
        self._pg = backend.cte_writes
        self._reservations: Batcher[Reservation, Outcome] = Batcher(self._reserve_batch)
        self._settlements: Batcher[Settlement, bool] = Batcher(self._settle_batch)

    async def _close_batches(self) -> None:
        """Wait for the batches already asked for; refuse new ones (before the backend closes)."""
        await self._reservations.close()
        await self._settlements.close()

    async def reserve(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        prompt: str,
        options: Mapping[str, Any],
        image_url: str | None,
        protocol: str,
        cost: int,
        daily_limit: int,
        max_running: int,
        interaction_token: str | None = None,
        application_id: int | None = None,
        now: datetime | None = None,
        price_micros: int = 0,
        use_extra: bool = False,
        max_extra: int | None = None,
        caps: Sequence[SpendCap] = (),
        refund_allowance: int = DEFAULT_REFUND_ALLOWANCE,
    ) -> Job:
        """Create a queued job and reserve its ``cost`` in credits, or refuse and write nothing.

        Raises :class:`~bot.db.errors.QuotaExceeded` if today's credits plus
        ``cost`` would pass ``daily_limit``, and
        :class:`~bot.db.errors.TooManyRunning` if the member already has
        ``max_running`` unfinished jobs. The checks and both inserts are one
        transaction, so concurrent requests cannot overspend.

        The operator's options: ``price_micros`` is the job's estimated price;
        ``use_extra`` lets the member's extra credits in ``guild_id`` pay what
        the day's allowance cannot (given back on a refund), counting a balance
        above ``max_extra`` as ``max_extra``; each of ``caps``
        raises :class:`~bot.db.errors.BudgetExceeded` when the day's jobs that
        count (still under way, or ever sent to the provider) plus this one
        would pass it. All are checked in the same transaction as the reservation.

        The render gate: refunds must not let a member make the provider render
        without end. :class:`~bot.db.errors.RenderLimitExceeded` (a
        ``QuotaExceeded``) refuses the job when the credits of the member's
        jobs of the day that were sent to the provider or are still under way
        (refunded or not), plus ``cost``, would pass ``daily_limit`` plus their
        extra credits, what an admin reset forgave today, and ``refund_allowance``.
        """
        if min(cost, daily_limit, max_running, price_micros, refund_allowance) < 0:
            raise ValueError(
                "cost, daily_limit, max_running, price and refund allowance must not be negative"
            )
        if not protocol:
            raise ValueError("protocol must not be empty")
        at = utc(now)
        reservation = Reservation(
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            interaction_token=interaction_token,
            application_id=application_id,
            prompt=prompt,
            options_json=dump_options(options),
            image_url=image_url,
            protocol=protocol,
            cost=cost,
            daily_limit=daily_limit,
            max_running=max_running,
            at=at,
            ts=at.timestamp(),
            day=quota_day(at),
            price_micros=price_micros,
            use_extra=use_extra,
            max_extra=max_extra,
            caps=tuple(c for c in caps if c.scope != "server" or guild_id is not None),
            refund_allowance=refund_allowance,
        )
        outcome = await self._reservations.submit(reservation)
        if isinstance(outcome, BaseException):
            raise outcome
        row, from_extra = outcome
        job = Job.from_row(row)
        log.info(
            "reserved job %s: user %s, %d credit(s) (%d extra) on %s",
            job.id,
            user_id,
            cost,
            from_extra,
            reservation.day,
        )
        return job

    async def _reserve_batch(
        self, tickets: Sequence[Ticket[Reservation]]
    ) -> list[Outcome | BaseException]:
        def plan() -> Plan[list[Outcome | BaseException]]:
            # Read as the plan starts: a caller cancelled until then is left out.
            wanted = [i for i, ticket in enumerate(tickets) if not ticket.abandoned]
            batch = [tickets[i].request for i in wanted]
            outcomes: list[Outcome | BaseException] = [Abandoned()] * len(tickets)
            for i, outcome in zip(
                wanted, (yield from reserve_plan(batch, pg=self._pg)), strict=True
            ):
                outcomes[i] = outcome
            return outcomes

        return await self._write(plan)

    async def settle(
        self,
        job_id: int,
        status: FinalStatus,
        *,
        result_url: str | None = None,
        error: str | None = None,
        now: datetime | None = None,
        refund: bool = True,
        refused: bool = False,
    ) -> bool:
        """End a job exactly once; return True if this call ended it.

        A job already final (or unknown) is left alone and False is returned, so
        a result reported twice (the poller and a cancel button racing) is
        harmless. ``failed`` and ``cancelled`` refund the reservation on the day
        it was reserved for, in the same transaction as the status change,
        unless ``refund`` is False: a member who cancels a video the provider
        is already rendering (and billing) does not get the credit back.
        The operator's spend counts a job sent to the provider either way,
        unless ``refused``: the provider answered the submission itself with a
        refusal and no job id, so it never took (or billed) the job.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"settle() needs a final status, not {status!r}")
        give_back = refund and status != "completed"
        params: Settlement = {
            "status": status,
            "ts": utc(now).timestamp(),
            "result_url": result_url,
            "error": error,
            "job": job_id,
            "unbill": status == "failed" and refused,
            "refund": give_back,
        }

        def plan() -> Plan[bool]:
            row = yield one(cq.SETTLE_JOB_SQLITE, params)
            if row is None:
                return False
            extra_used, user, day, cost, sent = row
            if params["unbill"] and (yield run(cq.UNBILL_REFUSED, params)):
                sent = None
            # What the member's day loses: an unsent job's render, the refund.
            changes = {"user": user, "day": day, "used": 0, "rendered": 0}
            if status != "completed" and sent is None:
                changes["rendered"] = -cost
            if give_back:
                refunded = yield one(cq.INSERT_REFUND, params)
                if refunded is not None:
                    changes["used"] = refunded["amount"]
                if extra_used:  # the job took extra credits: they go back too
                    yield run(oq.RETURN_EXTRA, params)
            if changes["used"] or changes["rendered"]:
                yield run(cq.ADD_TO_DAY, changes)
            return True

        if self._pg:
            ended = await self._settlements.submit(params)
        else:
            ended = await self._write(plan)
        if ended:
            kept = "" if refund or status == "completed" else " (credit kept: no refund)"
            log.info("job %s %s%s", job_id, status, kept)
        else:
            log.debug("job %s already final or unknown; %s ignored", job_id, status)
        return ended

    async def _settle_batch(
        self, tickets: Sequence[Ticket[Settlement]]
    ) -> list[bool | BaseException]:
        """One statement for the batch; a job settled twice in it ends once, by its first call."""
        batch = [ticket.request for ticket in tickets]
        first: dict[int, int] = {}
        for index, params in enumerate(batch):
            if not tickets[index].abandoned:
                first.setdefault(params["job"], index)
        unique = [batch[i] for i in first.values()]
        columns = {
            "jobs": "job",
            "statuses": "status",
            "times": "ts",
            "result_urls": "result_url",
            "errors": "error",
            "unbills": "unbill",
            "refunds": "refund",
        }
        arrays = {name: [p[key] for p in unique] for name, key in columns.items()}
        rows = await self._write(lambda: single(all_rows(cq.SETTLE_JOBS_PG, arrays)), single=True)
        ended = {row[0] for row in rows}
        return [p["job"] in ended and first[p["job"]] == i for i, p in enumerate(batch)]
