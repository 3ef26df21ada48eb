"""``sora-bot migrate-db``: copy every table from one database into an empty other.

Typically from the SQLite file to PostgreSQL when the bot moves to several
machines (``--from sqlite:data/sora-bot.sqlite3 --to postgresql://...``), but
any direction works: both are opened (and migrated) as stores first, so their
schemas match. The copy keeps every id, is one transaction on the target (all
or nothing), and refuses a target that already holds rows: merging two
ledgers could double-count or overwrite credits.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from functools import partial

from bot.db.dialect import is_database_url, redact_url
from bot.db.errors import StoreError
from bot.db.plan import Plan, Row, all_rows, run, scalar
from bot.db.store import Store

#: Every table of the schema, parents before the tables that refer to them.
TABLES: tuple[str, ...] = (
    "jobs",
    "ledger",
    "member_days",
    "meta",
    "guild_settings",
    "member_settings",
    "role_limits",
    "video_channels",
    "usage_adjustments",
    "audit_log",
)
#: Tables whose ``id`` a PostgreSQL identity generates: continued after the copied ids.
IDENTITY_TABLES: tuple[str, ...] = ("jobs", "ledger", "usage_adjustments", "audit_log")


class TransferRefused(StoreError):
    """The copy was refused before anything was written (e.g. the target holds rows)."""


@dataclass(frozen=True)
class Copied:
    """How many rows each table copied."""

    rows: dict[str, int]

    def summary(self) -> str:
        """One line for the operator."""
        return ", ".join(f"{n} {table}" for table, n in self.rows.items())


def location(text: str) -> str:
    """A ``--from``/``--to`` value as ``Store.open`` takes it (``sqlite:PATH`` or a URL)."""
    if is_database_url(text):
        return text
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:")
        text = text.removeprefix("//")  # sqlite:///abs/path -> /abs/path
    if not text:
        raise TransferRefused("an empty database location")
    return text


def _read_table(table: str) -> Plan[list[Row]]:
    # Table names come from TABLES, never from the operator.
    rows: list[Row] = yield all_rows(f"SELECT * FROM {table} ORDER BY 1")
    return rows


def _count(table: str) -> Plan[int]:
    return (yield scalar(f"SELECT COUNT(*) FROM {table}"))


def _write_all(tables: dict[str, list[Row]], postgres: bool) -> Plan[None]:
    for table, rows in tables.items():
        if not rows:
            continue
        columns = list(rows[0].keys())
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        for row in rows:
            yield run(sql, tuple(row[c] for c in columns))
    if postgres:
        # The identities would otherwise start at 1 again, on ids just copied.
        for table in IDENTITY_TABLES:
            yield all_rows(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )


async def transfer(source: str, target: str) -> Copied:
    """Copy every table of ``source`` into the empty ``target``; what was copied.

    Raises :class:`TransferRefused` when the source does not exist, is the
    target, or the target holds any row; :class:`StoreError` when a database
    fails (the target then holds nothing of the copy).
    """
    source, target = location(source), location(target)
    if source == target:
        raise TransferRefused("the source and the target are the same database")
    # Store.open would create an empty source file: a wrong path would copy nothing.
    if not is_database_url(source) and not await asyncio.to_thread(os.path.exists, source):
        raise TransferRefused(f"no database file at {source}")
    async with Store.open(source) as src, Store.open(target) as dst:
        for table in TABLES:
            if n := await dst._read(partial(_count, table)):
                where = redact_url(target) if is_database_url(target) else target
                raise TransferRefused(f"{where} is not empty: {table} has {n} row(s)")
        tables: dict[str, list[Row]] = {}
        for table in TABLES:
            tables[table] = await src._snapshot(partial(_read_table, table))
        postgres = dst.backend_name == "postgresql"
        await dst._write(partial(_write_all, tables, postgres))
    return Copied({table: len(rows) for table, rows in tables.items()})
