"""A reservation's checks and writes, as one plan for any number of reservations.

``Store.reserve`` turns its arguments into a :class:`Reservation`; the plan
:func:`reserve_plan` takes a batch of them (what one process asked for while
its previous batch was at the database, see :mod:`bot.db.batcher`; on SQLite
inside the writer's group commit) and, in one transaction:

1. takes the advisory locks of every member and spending cap of the batch,
   in one global order (no deadlocks; granted before anything is read);
2. reads each member's numbers once (:data:`~bot.db.credit_queries.MEMBER_NUMBERS`,
   their day's sums kept in one row of ``member_days``: on PostgreSQL one
   statement for the whole batch) and each cap's spend of the day;
3. decides each reservation in turn, in Python, counting the ones accepted
   before it in the same batch exactly as the database would once they are
   written: a batch of fifty is checked like fifty transactions in a row;
4. writes the accepted jobs, their ledger rows and their members' day sums
   (on PostgreSQL one statement for the whole batch) and takes their extra credits.

A refused reservation is an outcome (the :class:`~bot.db.errors.QuotaError`
to raise), not an error of the batch: the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.db import credit_queries as cq
from bot.db import operator_queries as oq
from bot.db import queries
from bot.db.dialect import cap_lock, member_lock
from bot.db.errors import (
    BudgetExceeded,
    QuotaError,
    QuotaExceeded,
    RenderLimitExceeded,
    TooManyRunning,
)
from bot.db.guild_models import SpendCap
from bot.db.models import next_reset
from bot.db.plan import Plan, Row, all_rows, as_int, lock, one, run
from bot.db.reports import read_spend

#: The key of a member's numbers: (user, day, guild whose extra credits may pay, or None).
MemberKey = tuple[int, str, int | None]
#: The key of a cap's spend: (scope, day, guild for a server cap, None for the bot's).
CapKey = tuple[str, str, int | None]
#: What became of one reservation: its job's row and the extra credits it took,
#: or the refusal to raise.
Outcome = tuple[Row, int] | QuotaError


@dataclass(frozen=True, slots=True)
class Reservation:
    """One ``reserve`` call, checked and computed (see ``Store.reserve`` for each field)."""

    user_id: int
    guild_id: int | None
    channel_id: int
    interaction_token: str | None
    application_id: int | None
    prompt: str
    options_json: str
    image_url: str | None
    protocol: str
    cost: int
    daily_limit: int
    max_running: int
    at: datetime
    ts: float
    day: str
    price_micros: int
    use_extra: bool
    max_extra: int | None
    #: Only the caps that apply (a server cap needs a server).
    caps: tuple[SpendCap, ...]
    refund_allowance: int

    @property
    def member(self) -> MemberKey:
        """Whose numbers this reservation checks; extra credits only where they may pay."""
        return (self.user_id, self.day, self.guild_id if self.use_extra else None)

    def cap_key(self, cap: SpendCap) -> CapKey:
        """Which day's spend ``cap`` counts for this reservation."""
        return (cap.scope, self.day, self.guild_id if cap.scope == "server" else None)

    def locks(self) -> set[int]:
        """The advisory locks its transaction holds: the member's and each cap's."""
        return {member_lock(self.user_id)} | {cap_lock(c.scope, self.guild_id) for c in self.caps}

    def job_values(self, from_extra: int) -> tuple[object, ...]:
        """The parameters of ``queries.INSERT_JOB``, in order."""
        return (
            self.user_id,
            self.guild_id,
            self.channel_id,
            self.interaction_token,
            self.application_id,
            self.prompt,
            self.options_json,
            self.image_url,
            self.protocol,
            self.cost,
            self.day,
            self.ts,
            self.ts,
            self.price_micros,
            from_extra,
        )


@dataclass(slots=True)
class Numbers:
    """A member's numbers as read (MEMBER_NUMBERS' columns), kept up to date through a batch."""

    ledger: int
    adjusted: int
    rendered: int
    running: int
    balance: int

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Numbers:
        """The five columns of MEMBER_NUMBERS, in order."""
        ledger, adjusted, rendered, running, balance = (as_int(v) for v in row)
        return cls(ledger, adjusted, rendered, running, balance)


@dataclass(slots=True)
class _Batch:
    """What a batch's decisions read and what each accepted reservation changed."""

    members: dict[MemberKey, Numbers]
    spends: dict[CapKey, list[int]] = field(default_factory=dict)

    def decide(self, r: Reservation) -> int:
        """How many extra credits ``r`` takes; raises the QuotaError that refuses it."""
        numbers = self.members[r.member]
        used = numbers.ledger + numbers.adjusted
        extra = 0
        if r.use_extra and r.guild_id is not None:
            extra = numbers.balance if r.max_extra is None else min(numbers.balance, r.max_extra)
        from_extra = from_extra_credits(used, r.cost, r.daily_limit, extra)
        if from_extra is None:
            raise QuotaExceeded(used, r.daily_limit, next_reset(r.at), cost=r.cost, extra=extra)
        forgiven = max(-numbers.adjusted, 0)
        if numbers.rendered + r.cost > r.daily_limit + extra + forgiven + r.refund_allowance:
            raise RenderLimitExceeded(
                numbers.rendered,
                r.daily_limit,
                next_reset(r.at),
                cost=r.cost,
                extra=extra,
                allowance=r.refund_allowance,
                forgiven=forgiven,
            )
        if numbers.running >= r.max_running:
            raise TooManyRunning(numbers.running, r.max_running)
        for cap in r.caps:
            spent_credits, spent_micros = self.spends[r.cap_key(cap)]
            check_cap(cap, spent_credits, spent_micros, r.cost, r.price_micros, r.at)
        return from_extra

    def count(self, r: Reservation, from_extra: int) -> None:
        """Count an accepted ``r`` in every number it changes, as its rows will once written."""
        for (user, day, guild), numbers in self.members.items():
            if user != r.user_id:
                continue
            numbers.running += 1  # a new queued job
            if day == r.day:
                numbers.ledger += r.cost - from_extra  # what the day's allowance paid
                numbers.rendered += r.cost  # SPENT counts a queued job
            if from_extra and guild is not None and guild == r.guild_id:
                # operator_queries.TAKE_EXTRA: the balance drops to the ceiling first.
                ceiling = numbers.balance if r.max_extra is None else r.max_extra
                numbers.balance = min(numbers.balance, ceiling) - from_extra
        for (scope, day, guild), spend in self.spends.items():
            if day == r.day and (scope != "server" or guild == r.guild_id):
                spend[0] += r.cost
                spend[1] += r.price_micros


def from_extra_credits(used: int, cost: int, daily_limit: int, extra: int) -> int | None:
    """How much of ``cost`` the member's extra credits pay, or None if they cannot afford it.

    The day's allowance pays first. Without extra credits this is the original
    rule: refused when ``used + cost`` passes ``daily_limit``.
    """
    if used + cost <= daily_limit:
        return 0
    need = cost - max(daily_limit - used, 0)
    return need if 0 < need <= extra else None


def check_cap(
    cap: SpendCap, spent_credits: int, spent_micros: int, cost: int, micros: int, at: datetime
) -> None:
    """Raise BudgetExceeded if a job of ``cost`` and ``micros`` would pass ``cap``."""
    if cap.credits is not None and spent_credits + cost > cap.credits:
        raise BudgetExceeded(cap.scope, "credits", spent_credits, cap.credits, cost, next_reset(at))
    if cap.micros is not None and spent_micros + micros > cap.micros:
        raise BudgetExceeded(cap.scope, "micros", spent_micros, cap.micros, micros, next_reset(at))


def reserve_plan(batch: Sequence[Reservation], *, pg: bool) -> Plan[list[Outcome]]:
    """Reserve every reservation of ``batch`` that passes its checks; one outcome each, in order.

    ``pg``: PostgreSQL's statements, one per step for the whole batch (arrays
    and data-modifying CTEs); otherwise SQLite's, one per member and job.
    """
    if not batch:
        return []
    for key in sorted(set().union(*(r.locks() for r in batch))):
        yield lock(key)
    state = _Batch(members=(yield from _read_members([r.member for r in batch], pg=pg)))
    for r in batch:
        for cap in r.caps:
            cap_key = r.cap_key(cap)
            if cap_key not in state.spends:
                spend = yield from read_spend(cap_key[1], cap_key[2])
                state.spends[cap_key] = [spend.credits, spend.micros]
    outcomes: list[Outcome | None] = []
    accepted: list[tuple[int, Reservation, int]] = []
    for index, r in enumerate(batch):
        try:
            from_extra = state.decide(r)
        except QuotaError as refused:
            outcomes.append(refused)
            continue
        state.count(r, from_extra)
        accepted.append((index, r, from_extra))
        outcomes.append(None)
    rows = yield from _insert_jobs([(r, f) for _, r, f in accepted], pg=pg)
    for (index, r, from_extra), row in zip(accepted, rows, strict=True):
        outcomes[index] = (row, from_extra)
        if from_extra:
            yield run(
                oq.TAKE_EXTRA,
                {
                    "ceiling": oq.NO_CEILING if r.max_extra is None else r.max_extra,
                    "take": from_extra,
                    "ts": r.ts,
                    "guild": r.guild_id,
                    "user": r.user_id,
                },
            )
    return [o for o in outcomes if o is not None]


def _read_members(keys: list[MemberKey], *, pg: bool) -> Plan[dict[MemberKey, Numbers]]:
    distinct = list(dict.fromkeys(keys))
    if not pg:
        members = {}
        for user, day, guild in distinct:
            row = yield one(cq.MEMBER_NUMBERS, {"user": user, "day": day, "guild": guild})
            members[(user, day, guild)] = Numbers.from_row(row)
        return members
    users, days, guilds = (list(column) for column in zip(*distinct, strict=True))
    rows = yield all_rows(cq.MEMBERS_NUMBERS_PG, {"users": users, "days": days, "guilds": guilds})
    # Each row is led by its member's place in the arrays, counted from 1.
    return {distinct[row[0] - 1]: Numbers.from_row(row[1:]) for row in rows}


def _insert_jobs(accepted: list[tuple[Reservation, int]], *, pg: bool) -> Plan[list[Row]]:
    """The accepted reservations' jobs and ledger rows; the jobs' rows, in order."""
    if not accepted:
        return []
    if not pg:
        rows = []
        for r, from_extra in accepted:
            row = yield one(queries.INSERT_JOB, r.job_values(from_extra))
            paid = r.cost - from_extra  # what the day's allowance paid
            yield run(cq.INSERT_RESERVE, (row["id"], r.user_id, r.day, paid, r.ts))
            day = {"user": r.user_id, "day": r.day, "used": paid, "rendered": r.cost}
            yield run(cq.ADD_TO_DAY, day)
            rows.append(row)
        return rows
    # One array per column of RESERVE_JOBS_PG's input, from these fields.
    fields = {
        "user_ids": "user_id", "guild_ids": "guild_id", "channel_ids": "channel_id",
        "tokens": "interaction_token", "application_ids": "application_id", "prompts": "prompt",
        "options": "options_json", "image_urls": "image_url", "protocols": "protocol",
        "costs": "cost", "days": "day", "times": "ts", "prices": "price_micros",
    }  # fmt: skip
    params = {name: [getattr(r, field) for r, _ in accepted] for name, field in fields.items()}
    params["extras"] = [from_extra for _, from_extra in accepted]
    rows = yield all_rows(cq.RESERVE_JOBS_PG, params)
    return list(rows)
