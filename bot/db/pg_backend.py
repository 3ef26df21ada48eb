"""Running plans on PostgreSQL through an asyncpg connection pool.

Each write plan is one transaction on a pooled connection, at READ COMMITTED:
the plan first takes the transaction-level advisory locks it needs (the
member, each spending cap: see :mod:`bot.db.dialect`), and every statement
after that sees what other transactions committed before the lock was
granted. So two processes reserving for the same member, or under the same
cap, run one after the other, exactly like SQLite's single writer, while
different members proceed in parallel. (REPEATABLE READ would be wrong here:
its snapshot is taken by the first statement, before the lock is granted.)

A serialization failure or a deadlock rolls the transaction back; the plan is
then run again from a fresh generator, a bounded number of times, before
:class:`~bot.db.errors.StoreBusy`.

Each statement is a network round trip, and round trips are most of what a
credit operation costs (a system call and a wake-up on each side), so: the
locks a plan takes first go out with its ``BEGIN`` in one simple query, the
backend ends its transactions itself (asyncpg's ``transaction()`` would cost
the same trips but could not carry the locks), the pool keeps sessions as they
are on release, and a plan of one statement may be sent alone, without
``BEGIN``/``COMMIT`` (``write(..., single=True)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg

from bot.db.dialect import postgres_args, redact_url
from bot.db.errors import StoreBusy, StoreError, wrap_pg_error
from bot.db.pg_migrate import apply_pg_migrations
from bot.db.plan import Op, Plan

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A connection of the pool (asyncpg hands out proxies) or a plain one.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

DEFAULT_POOL_SIZE = 10
#: How many times a plan is run after a serialization failure or deadlock.
RETRIES = 5
_RETRY_STATES = frozenset({"40001", "40P01"})
_LOCK_SQL = "SELECT pg_advisory_xact_lock($1)"
# How each kind of plan begins (asyncpg's transaction() would cost the same
# round trip, but could not carry the plan's locks with it).
_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_READ = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


async def _execute(conn: Conn, op: Op) -> Any:
    if op.kind == "lock":
        await conn.execute(_LOCK_SQL, op.params[0])  # type: ignore[index]
        return None
    sql, args = postgres_args(op.sql, op.params)
    if op.kind == "run":
        status = await conn.execute(sql, *args)
        # "UPDATE 3", "INSERT 0 1", "DELETE 0": the last word counts the rows.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0
    if op.kind == "all":
        return await conn.fetch(sql, *args)
    row = await conn.fetchrow(sql, *args)
    if op.kind == "one":
        return row
    return 0 if row is None or row[0] is None else int(row[0])


def begin_sql(begin: str, keys: list[int]) -> str:
    """``begin`` and a lock statement per key, sent as one simple query (one round trip).

    The simple-query protocol runs several statements but takes no
    parameters, so the keys are written into the text: only integers
    (:func:`~bot.db.dialect.lock_key` computes them; ``int()`` makes sure),
    never anything a caller typed.
    """
    locks = "".join(f"; SELECT pg_advisory_xact_lock({int(key)})" for key in keys)
    return begin + locks


async def _drive(conn: Conn, plan: Plan[T], begin: str) -> T:
    """Run ``plan`` in one transaction: ``BEGIN`` with the plan's first locks, its ops, ``COMMIT``.

    The locks a plan yields before its first statement go out with the
    ``BEGIN`` in one round trip, and are granted before that statement runs
    (its READ COMMITTED snapshot then sees every commit made under them).
    A plan that raises, or an error, rolls the transaction back.
    """
    keys: list[int] = []
    started = False
    try:
        try:
            op = next(plan)
            while True:
                if op.kind == "lock" and not started:
                    keys.append(op.params[0])  # type: ignore[index]
                    result = None
                else:
                    if not started:
                        started = True  # from here on, a failure must end the transaction
                        await conn.execute(begin_sql(begin, keys))
                    result = await _execute(conn, op)
                op = plan.send(result)
        except StopIteration as stop:
            value: T = stop.value
        if started:
            await conn.execute("COMMIT")
        return value
    except Exception:
        if started and not conn.is_closed() and conn.is_in_transaction():
            try:
                await conn.execute("ROLLBACK")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                conn.terminate()  # the server ends the transaction with the session
        raise
    except BaseException:
        # Cancelled mid-statement: the connection is busy with the cancelled
        # query and cannot roll back now. Closing it ends the transaction on
        # the server, and the pool opens a fresh connection in its place.
        if started and not conn.is_closed():
            conn.terminate()
        raise


async def _alone(conn: Conn, plan: Plan[T]) -> T:
    """Run a plan of one statement without BEGIN and COMMIT: the statement is its transaction."""
    try:
        op = next(plan)
        result = await _execute(conn, op)
        plan.send(result)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("a plan run as a single statement yielded a second one")


async def _keep_session(conn: Conn) -> None:
    """Return a connection to the pool as it is.

    asyncpg's default reset costs a round trip per transaction (``RESET ALL``,
    ``pg_advisory_unlock_all()``...). It is not needed here: every plan runs in
    a transaction that ends before release, its locks are transaction-level,
    and nothing changes session state (the migrations release their lock).
    """


class PostgresBackend:
    """A migrated PostgreSQL database behind a pool of ``pool_size`` connections."""

    name = "postgresql"
    #: Several writes go in one statement (data-modifying CTEs): one round trip.
    cte_writes = True

    def __init__(self, url: str, pool: asyncpg.Pool, busy_timeout: float) -> None:
        """Wrap an open pool; use :meth:`open`."""
        self.location = redact_url(url)
        self._pool = pool
        self._busy_timeout = busy_timeout
        #: How many read-only snapshots ran (for tests and debugging).
        self.reader_reads = 0

    @classmethod
    async def open(cls, url: str, busy_timeout: float, pool_size: int) -> PostgresBackend:
        """Connect a pool to ``url`` and migrate the database (once, whoever starts first)."""
        if pool_size < 1:
            raise ValueError("the pool needs at least one connection")
        # lock_timeout: waiting for another transaction's lock longer than the
        # SQLite busy timeout is StoreBusy here too.
        settings = {"lock_timeout": str(max(int(busy_timeout * 1000), 1))}
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                server_settings=settings,
                timeout=max(busy_timeout, 1.0),
                reset=_keep_session,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to {redact_url(url)}: {exc}") from None
        try:
            async with pool.acquire() as conn:
                version = await apply_pg_migrations(conn)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise wrap_pg_error(exc) from exc
            raise
        log.info("opened database %s (schema v%d)", redact_url(url), version)
        return cls(url, pool, busy_timeout)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._pool.close()

    async def _run(self, factory: Callable[[], Plan[T]], begin: str | None) -> T:
        """Run the plan (in a transaction opened by ``begin``, or alone); retry when told to."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._pool.acquire(timeout=self._busy_timeout) as conn:
                    if begin is None:
                        return await _alone(conn, factory())
                    return await _drive(conn, factory(), begin)
            except asyncpg.PostgresError as exc:
                if exc.sqlstate in _RETRY_STATES and attempt < RETRIES:
                    log.debug("retrying a transaction after %s", exc.sqlstate)
                    continue
                if exc.sqlstate in _RETRY_STATES:
                    raise StoreBusy(f"database is busy: {exc}") from exc
                raise wrap_pg_error(exc) from exc
            except (asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise wrap_pg_error(exc) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    async def write(
        self, factory: Callable[[], Plan[T]], *, durable: bool = False, single: bool = False
    ) -> T:
        """Run the plan in one transaction (committed with a full sync: PostgreSQL's default).

        ``single``: the plan runs exactly one statement, which is then sent
        on its own, without ``BEGIN`` and ``COMMIT`` (two round trips fewer):
        one statement is one transaction anyway.
        """
        return await self._run(factory, None if single else _WRITE)

    async def read(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan."""
        return await self._run(factory, _READ)

    async def snapshot(self, factory: Callable[[], Plan[T]]) -> T:
        """Run a read-only plan in one snapshot, so several sums agree with each other."""
        self.reader_reads += 1
        return await self._run(factory, _SNAPSHOT)
