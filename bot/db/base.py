"""What every part of :class:`~bot.db.store.Store` shares: a backend that runs plans.

Each store operation is a plan (see :mod:`bot.db.plan`) handed to the backend,
SQLite (:mod:`bot.db.sqlite_backend`) or PostgreSQL (:mod:`bot.db.pg_backend`):

* :meth:`StoreBase._write` runs it as one write transaction, all or nothing;
* :meth:`StoreBase._read` as a read that sees every earlier commit;
* :meth:`StoreBase._snapshot` as one consistent read-only snapshot, off the
  writer (long sums for ``/metrics`` and ``stats``, so several sums agree and a
  scrape never makes a reservation wait).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bot.db.models import Job
from bot.db.plan import Params, Plan, Row, all_rows, one, run, scalar, single

T = TypeVar("T")


class Backend(Protocol):
    """What a database must offer the store (both backends implement it)."""

    name: str
    location: str
    reader_reads: int
    #: True when one statement may write to several tables (PostgreSQL's
    #: data-modifying CTEs): plans then send one statement instead of several.
    cte_writes: bool

    async def write(
        self, factory: Callable[[], Plan[T]], *, durable: bool = False, single: bool = False
    ) -> T:
        """Run the plan ``factory()`` builds in one write transaction.

        ``single`` promises the plan runs exactly one statement, which the
        backend may then send without ``BEGIN``/``COMMIT``.
        """
        ...

    async def read(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan that sees every earlier commit."""
        ...

    async def snapshot(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan in one consistent snapshot."""
        ...

    async def close(self) -> None:
        """Release the connections."""
        ...


class StoreBase:
    """A backend with small helpers; the store's parts build on it."""

    def __init__(self, backend: Backend) -> None:
        """Wrap an open backend; use ``Store.open`` instead."""
        self._backend = backend
        #: Where the data lives: the SQLite path, or the server's URL without its password.
        self.path = backend.location

    @property
    def backend_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._backend.name

    @property
    def reader_reads(self) -> int:
        """How many snapshots ran off the writer (for tests and debugging)."""
        return self._backend.reader_reads

    async def _write(
        self, factory: Callable[[], Plan[T]], *, durable: bool = False, single: bool = False
    ) -> T:
        return await self._backend.write(factory, durable=durable, single=single)

    async def _read(self, factory: Callable[[], Plan[T]]) -> T:
        return await self._backend.read(factory)

    async def _snapshot(self, factory: Callable[[], Plan[T]]) -> T:
        return await self._backend.snapshot(factory)

    # One-statement shortcuts.
    async def _one(self, sql: str, params: Params) -> Row | None:
        return await self._read(lambda: single(one(sql, params)))

    async def _all(self, sql: str, params: Params) -> list[Row]:
        rows: list[Row] = await self._read(lambda: single(all_rows(sql, params)))
        return list(rows)

    async def _scalar(self, sql: str, params: Params) -> int:
        value: int = await self._read(lambda: single(scalar(sql, params)))
        return value

    async def _run(self, sql: str, params: Params) -> int:
        changed: int = await self._write(lambda: single(run(sql, params)), single=True)
        return changed

    async def _jobs(self, sql: str, params: Params) -> list[Job]:
        return [Job.from_row(row) for row in await self._all(sql, params)]


def first(rows: Any) -> Row | None:
    """The first of ``rows``, or None."""
    for row in rows:
        return row
    return None
