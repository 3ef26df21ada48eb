"""Database faults end to end: the SQLite file locked by another writer, and a full disk.

A request that cannot be recorded is refused with nothing charged; a job whose
writes fail keeps retrying them and ends exactly once when the database is
back; the ledger stays exact and other members are served throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.db import Store
from bot.db.sqlite_backend import SqliteBackend
from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, App, running_app

NOT_RECORDED = "The bot could not record your request right now. Nothing was charged"
# Longer than a database page: its row needs new (overflow) pages whenever it is written.
LONG_PROMPT = "a slow pan across a quiet lake at dawn, mist over the water; " * 75


def slow(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 8, "step_delay": 0.08, **knobs})


@contextlib.asynccontextmanager
async def write_locked(db: Path) -> AsyncIterator[None]:
    """Another connection (another process, say) holds the write lock until the block ends."""
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        # Off the event loop: taking the lock may wait for one of the bot's transactions.
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        yield
    finally:
        if holder.in_transaction:
            await asyncio.to_thread(holder.execute, "ROLLBACK")
        holder.close()


@contextlib.asynccontextmanager
async def disk_full(store: Store) -> AsyncIterator[None]:
    """No page can be added to the file any more (SQLITE_FULL), as on a full disk.

    ``max_page_count`` caps the file at its current size; VACUUM first empties the
    free list, or SQLite would recycle a free page. Both run on the store's database
    thread, between two of its transactions.
    """
    backend = store._backend
    assert isinstance(backend, SqliteBackend)

    # Each PRAGMA below answers with a row: read it, so the statement is done. A
    # cursor left unread stays "in progress" for as long as anything holds it (the
    # database thread keeps its last call's result until the next call), and
    # VACUUM refuses to run beside a statement in progress.
    def cap(conn: sqlite3.Connection) -> None:
        conn.execute("VACUUM")
        conn.execute("PRAGMA max_page_count = 1").fetchall()

    def uncap(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA max_page_count = 1073741823").fetchall()

    await backend.on_connection(cap)  # between two of the store's transactions
    try:
        yield
    finally:
        await backend.on_connection(uncap)


def counts(app: App) -> tuple[int, int]:
    """Rows in jobs and in the ledger, read on a separate read-only connection."""
    row = app.rows("SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM ledger)")[0]
    return row[0], row[1]


async def test_locked_too_long_refuses_without_charging(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow(), busy_timeout=0.2) as app:
        bob = app.discord.add_user("bob")
        running = await app.video(user=bob, prompt="bob's boat drifts")
        await app.discord.wait_for(lambda: len(running.edits) >= 3)  # submitted, rendering
        stuck = app.logs.event("settling failed")
        async with write_locked(app.db):
            text = await app.refusal(await app.video())
            assert NOT_RECORDED in text and "try again" in text
            assert counts(app) == (1, 1)  # only bob's job: nothing written for the refusal
            await asyncio.wait_for(stuck.wait(), 10)  # bob's job ended, but cannot settle yet
        assert "✅" in await app.finished(running)  # settled on a retry once the lock was gone
        assert await app.used(bob) == 1 and await app.used() == 0
        again = await app.video()
        assert "✅" in await app.finished(again)
        await app.check_ledger()


async def test_briefly_locked_database_just_delays_the_job(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow(steps=3)) as app:
        sqlite_log = logging.getLogger("bot.db.group_commit")
        async with write_locked(app.db):
            sqlite_log.setLevel(logging.DEBUG)  # to see the bot's write wait for the lock
            waiting = app.logs.event("'BEGIN IMMEDIATE'")
            ix = await app.video()
            await asyncio.wait_for(waiting.wait(), 5)
            released = time.monotonic()
        sqlite_log.setLevel(logging.INFO)
        content = await app.finished(ix)
        assert "✅" in content and ix.callback is not None and not ix.ephemeral
        assert ix.callback.at > released  # the reply waited for the lock, within 3 s
        assert await app.used() == 1
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_the_disk_can_fill_up_again_right_after_it_had_room(tmp_path: Path) -> None:
    # The soak fills the disk over and over; nothing of one fault may stop the next.
    async with Store.open(tmp_path / "db.sqlite3") as store:
        for _ in range(3):
            async with disk_full(store):
                cap, size = await store._backend.on_connection(  # type: ignore[attr-defined]
                    lambda conn: [
                        conn.execute(f"PRAGMA {pragma}").fetchall()[0][0]
                        for pragma in ("max_page_count", "page_count")
                    ]
                )
                assert cap == size  # not one page more: the disk is full


async def test_full_disk_refuses_a_request_cleanly(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", prompt_max_length=6000) as app:
        async with disk_full(app.store):
            refused = await app.video(prompt=LONG_PROMPT)
            assert NOT_RECORDED in await app.refusal(refused)
            assert counts(app) == (0, 0)  # nothing half-written
            await app.another_member_succeeds()  # a small job still fits
        ix = await app.video(prompt=LONG_PROMPT)  # space is back: the same request works
        assert "✅" in await app.finished(ix)
        assert await app.used() == 1
        await app.check_ledger()


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_disk_filling_up_mid_job_ends_it_once(outcome: str, tmp_path: Path) -> None:
    faults = slow(fail_at=90 if outcome == "failed" else None)
    async with running_app(tmp_path, "generations", faults, prompt_max_length=6000) as app:
        bob = app.discord.add_user("bob")
        ix = await app.video(prompt=LONG_PROMPT)
        other = await app.video(user=bob, prompt="bob's boat drifts")
        await app.discord.wait_for(lambda: len(ix.edits) >= 3 and len(other.edits) >= 3)
        stuck = app.logs.event("settling failed")
        async with disk_full(app.store):
            await asyncio.wait_for(stuck.wait(), 10)  # the long job's end cannot be written
        content = await app.finished(ix)
        if outcome == "completed":
            assert "✅" in content and await app.used() == 1
        else:
            assert "❌" in content and "content policies" in content and "refunded" in content
            assert await app.used() == 0
        assert app.jobs(app.discord.user)[0]["status"] == outcome
        # Bob's small job fits in the pages the file has: it ends as the provider says.
        assert ("✅" if outcome == "completed" else "❌") in await app.finished(other)
        app.provider.scenario.fail_at = None
        await app.another_member_succeeds()
        await app.check_ledger()
