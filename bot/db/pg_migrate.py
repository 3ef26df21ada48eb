"""PostgreSQL migrations: the files in ``migrations/postgresql``, numbered like SQLite's.

Applied versions are rows of ``schema_migrations``. Several processes may start
at once against one database, so the whole check-and-apply runs under a
session-level advisory lock: the first process migrates, the others wait, then
find nothing left to do. Each file and its ``schema_migrations`` row commit
together or not at all (PostgreSQL's DDL is transactional).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import asyncpg

from bot.db.dialect import lock_key
from bot.db.errors import StoreError
from bot.db.migrate import Migration, load_migrations

log = logging.getLogger(__name__)

MIGRATION_LOCK = lock_key("schema-migrations")

_CREATE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)
"""


def postgres_migrations() -> list[Migration]:
    """The packaged PostgreSQL migrations in order."""
    return load_migrations("bot.db", "migrations/postgresql")


async def schema_version(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> int:
    """The newest applied version (0 for an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def apply_pg_migrations(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    migrations: Sequence[Migration] | None = None,
) -> int:
    """Bring the schema up to date under the migration lock; return the version.

    Raises :class:`StoreError` if the database is newer than this code.
    """
    if migrations is None:
        migrations = postgres_migrations()
    latest = migrations[-1].version if migrations else 0
    # Wait as long as the first process needs (not the pool's lock_timeout).
    await conn.execute("SET lock_timeout = 0")
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(_CREATE)
        current = await schema_version(conn)
        if current > latest:
            raise StoreError(f"database schema v{current} is newer than this bot (v{latest})")
        for migration in migrations:
            if migration.version <= current:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )
            current = migration.version
            log.info("applied migration %s (postgresql)", migration.name)
        return current
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.execute("RESET lock_timeout")
