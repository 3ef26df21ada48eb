"""Store operations as plans: generators that yield SQL and receive its results.

A plan is written once and runs on either database. Each ``yield`` hands the
backend one :class:`Op` and gets its result back::

    def _job(job_id: int) -> Plan[Row | None]:
        row = yield one(SELECT_JOB, (job_id,))
        return row

The SQLite backend drives a whole plan, transaction included, in one call on
its database thread (one trip instead of one per statement: that is what
makes 5,000 credit operations a second possible); the PostgreSQL backend
drives it with ``await`` on a pooled connection, and may run it again (from a
fresh generator) after a serialization failure. Plans therefore never do
anything but compute and yield: no I/O, no side effects outside their result.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Params = Sequence[Any] | Mapping[str, Any]
#: A row of either driver: ``sqlite3.Row`` or ``asyncpg.Record`` (both index by position and name).
Row = Any
Plan = Generator["Op", Any, T]

OpKind = Literal["one", "all", "scalar", "run", "lock"]


@dataclass(frozen=True, slots=True)
class Op:
    """One statement of a plan and what to hand back.

    ``one``: the first row or None; ``all``: every row; ``scalar``: the first
    column of the first row as an int (0 when NULL or no row); ``run``: how
    many rows changed; ``lock``: take the transaction-level lock ``params[0]``
    (PostgreSQL; a no-op on SQLite, whose ``BEGIN IMMEDIATE`` already serialises
    every writer).
    """

    kind: OpKind
    sql: str
    params: Params = ()


def one(sql: str, params: Params = ()) -> Op:
    """The first row of ``sql`` (or None)."""
    return Op("one", sql, params)


def all_rows(sql: str, params: Params = ()) -> Op:
    """Every row of ``sql``."""
    return Op("all", sql, params)


def scalar(sql: str, params: Params = ()) -> Op:
    """The first column of the first row of ``sql`` as an int, 0 when NULL or none."""
    return Op("scalar", sql, params)


def run(sql: str, params: Params = ()) -> Op:
    """Run a write; its result is the number of rows changed."""
    return Op("run", sql, params)


def lock(key: int) -> Op:
    """Serialise with every transaction taking the same ``key`` (see :mod:`bot.db.dialect`)."""
    return Op("lock", "", (key,))


def single(op: Op) -> Plan[Any]:
    """A plan of one statement, returning its result."""
    result = yield op
    return result


def as_int(value: Any) -> int:
    """A sum as an int: SQLite gives int, PostgreSQL int or Decimal (NULL counts 0)."""
    return 0 if value is None else int(value)
