"""Migrations, file setup and the schema's own guarantees, on real SQLite files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from bot.db import Store, StoreError
from bot.db.migrate import Migration, apply_migrations, load_migrations, split_statements

Raw = Callable[[], sqlite3.Connection]
NOW = 1_741_608_000.0  # 2025-03-10 12:00 UTC


def mode(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(os.stat(path).st_mode)


def create_world_readable(path: Path) -> None:
    """An empty file with mode 0644, as an older version of the bot would have left it."""
    path.parent.mkdir()
    path.touch()
    path.chmod(0o644)


def insert_job(conn: sqlite3.Connection, **overrides: object) -> int:
    """Insert a minimal valid job row by hand and return its id."""
    row: dict[str, object] = {
        "user_id": 1,
        "channel_id": 2,
        "prompt": "p",
        "protocol": "chat",
        "cost": 1,
        "day": "2025-03-10",
        "created_at": NOW,
        "updated_at": NOW,
    }
    row.update(overrides)
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cur = conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(row.values()))
    assert cur.lastrowid is not None
    return cur.lastrowid


async def test_fresh_file_is_created_migrated_and_private(db_path: Path, raw: Raw) -> None:
    assert not db_path.parent.exists()

    async with Store.open(db_path):
        conn = raw()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(load_migrations()) == 8
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {
            "jobs",
            "ledger",
            "meta",
            "jobs_user_active",
            "jobs_status_totals",
            "jobs_day_spend",
            "jobs_user_day_spend",
            "ledger_user_day_amount",
        } <= names
        assert mode(db_path) == 0o600
        assert mode(Path(f"{db_path}-wal")) == 0o600  # raises if there is no WAL


async def test_existing_world_readable_file_is_tightened(db_path: Path) -> None:
    create_world_readable(db_path)

    async with Store.open(db_path):
        assert mode(db_path) == 0o600


async def test_reopen_is_idempotent_and_keeps_data(db_path: Path, raw: Raw) -> None:
    async with Store.open(db_path) as store:
        job = await store.reserve(
            user_id=1, guild_id=None, channel_id=2, prompt="p", options={}, image_url=None,
            protocol="videos", cost=1, daily_limit=5, max_running=5,
        )  # fmt: skip

    async with Store.open(db_path) as store:
        assert await store.get_job(job.id) == job

    assert raw().execute("PRAGMA user_version").fetchone()[0] == len(load_migrations())


async def test_two_processes_migrating_at_once_both_succeed(db_path: Path, raw: Raw) -> None:
    async def open_and_count() -> int:
        async with Store.open(db_path) as store:
            return await store.running_count(1)

    assert await asyncio.gather(open_and_count(), open_and_count()) == [0, 0]
    assert raw().execute("PRAGMA user_version").fetchone()[0] == len(load_migrations())


async def test_newer_schema_is_refused(db_path: Path, raw: Raw) -> None:
    async with Store.open(db_path):
        pass
    raw().execute("PRAGMA user_version = 99")

    with pytest.raises(StoreError, match="newer"):
        async with Store.open(db_path):
            pass


async def test_failing_migration_rolls_back_completely(tmp_path: Path) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "0002_b.sql", "CREATE TABLE b (x);\nINSERT INTO missing VALUES (1);\n")
    with closing(sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)) as conn:
        with pytest.raises(sqlite3.OperationalError, match="missing"):
            apply_migrations(conn, [good, bad])

        assert not conn.in_transaction
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        assert [r[0] for r in tables] == ["a"]
        fixed = Migration(2, "0002_b.sql", "CREATE TABLE b (x);")
        assert apply_migrations(conn, [good, fixed]) == 2


async def test_migration_3_marks_jobs_that_reached_the_provider_as_billable(
    db_path: Path,
) -> None:
    db_path.parent.mkdir()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        assert apply_migrations(conn, load_migrations()[:2]) == 2
    old = sqlite3.connect(db_path, isolation_level=None)
    sent = insert_job(old, status="failed", provider_task_id="t1", finished_at=NOW + 9)
    done = insert_job(old, status="completed", started_at=NOW + 5, finished_at=NOW + 9)
    slot_only = insert_job(old, status="running", started_at=NOW + 5)
    never = insert_job(old, status="cancelled", finished_at=NOW + 9)
    old.close()

    async with Store.open(db_path) as store:
        marked = {j: await store.get_job(j) for j in (sent, done, slot_only, never)}
    when = {j: None if job is None or job.submitted_at is None else job.submitted_at.timestamp()
            for j, job in marked.items()}  # fmt: skip
    assert when == {sent: NOW, done: NOW + 5, slot_only: None, never: None}


def test_split_statements_keeps_trigger_bodies_and_skips_comments() -> None:
    sql = """
    -- a comment
    CREATE TABLE t (x); -- trailing
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 1; UPDATE t SET x = 2;
    END;
    -- the end
    """
    statements = split_statements(sql)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (x);\nCREATE TABLE u (y)")


def test_load_migrations_refuses_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_migrations_pkg"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "0001_a.sql").write_text("SELECT 1;")
    (package / "migrations" / "0003_c.sql").write_text("SELECT 1;")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ValueError, match="without gaps"):
        load_migrations("fake_migrations_pkg")


@pytest.mark.usefixtures("sqlite_store")
async def test_schema_rejects_impossible_rows(raw: Raw) -> None:
    conn = raw()
    conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        insert_job(conn, status="exploded")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        insert_job(conn, status="completed")  # final without finished_at
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        insert_job(conn, cost=-1)
    job_id = insert_job(conn)
    refund = "INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at) VALUES (?, 1, '2025-03-10', -1, 'refund', 0)"  # noqa: E501
    conn.execute(refund, (job_id,))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(refund, (job_id,))
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        conn.execute(refund, (job_id + 1,))
