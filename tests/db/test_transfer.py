"""``sora-bot migrate-db``: every table from SQLite into an empty PostgreSQL, and back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.db import Store
from bot.db.transfer import TABLES, TransferRefused, transfer
from tests.support.postgres import fresh_database

Args = Callable[..., dict[str, Any]]
GUILD, ADMIN = 10, 99


@pytest.fixture
async def pg_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server."""
    async with fresh_database(postgres_server) as url:
        yield url


async def seed(store: Store, reserve_args: Args, noon: datetime) -> None:
    """A little of everything: jobs in every state, credits, settings, resets, audit."""
    await store.add_extra_credits(GUILD, 1, 2, actor_id=ADMIN, now=noon)
    done = await store.reserve(**reserve_args())
    await store.mark_submitting(done.id, now=noon)
    await store.settle(done.id, "completed", result_url="https://x/v.mp4", now=noon)
    failed = await store.reserve(**reserve_args(daily_limit=0, use_extra=True))
    await store.settle(failed.id, "failed", error="boom", now=noon)
    await store.reserve(**reserve_args(user_id=2, price_micros=5))  # still queued
    await store.set_role_limit(GUILD, 5, 7, actor_id=ADMIN, now=noon)
    await store.change_channels(GUILD, "add", 77, actor_id=ADMIN, now=noon)
    await store.set_guild_value(GUILD, "budget_credits", 40, actor_id=ADMIN, now=noon)
    await store.set_blocked(GUILD, 3, True, actor_id=ADMIN, reason="spam", now=noon)
    await store.reset_usage(GUILD, 1, actor_id=ADMIN, now=noon)
    await store.set_meta("command_hash", "abc", now=noon)


async def picture(store: Store, noon: datetime) -> dict[str, Any]:
    """What the bot can see of a database, through the store's own API."""
    return {
        "jobs": [await store.get_job(i) for i in range(1, 5)],
        "usage": [await store.usage(u, 3, now=noon) for u in (1, 2)],
        "policy": await store.policy_snapshot(GUILD, 1, [5]),
        "blocked": await store.member_settings(GUILD, 3),
        "guild": await store.guild_settings(GUILD),
        "audit": await store.audit_log(GUILD),
        "stats": await store.stats(GUILD, now=noon),
        "meta": await store.get_meta("command_hash"),
    }


async def test_sqlite_to_postgresql_copies_everything_and_ids_continue(
    tmp_path: Path, pg_url: str, reserve_args: Args, noon: datetime
) -> None:
    path = tmp_path / "bot.sqlite3"
    async with Store.open(path) as old:
        await seed(old, reserve_args, noon)
        before = await picture(old, noon)

    copied = await transfer(f"sqlite:{path}", pg_url)

    assert (
        copied.rows["jobs"] == 3 and copied.rows["ledger"] == 4 and set(copied.rows) == set(TABLES)
    )
    async with Store.open(pg_url) as new:
        assert await picture(new, noon) == before
        # The identities carry on after the copied ids.
        assert (await new.reserve(**reserve_args(user_id=4))).id == 4
        assert (await new.audit_log(GUILD, limit=1))[0].id == before["audit"][0].id
        await new.set_meta("x", "y")

    # And back again, into a new SQLite file: the same picture.
    back = tmp_path / "back.sqlite3"
    await transfer(pg_url, f"sqlite:{back}")
    async with Store.open(back) as again:
        after = await picture(again, noon)
    assert after["audit"] == before["audit"] and after["stats"] != before["stats"]  # + job 4
    assert after["jobs"][:3] == before["jobs"][:3]


async def test_a_target_that_holds_rows_is_refused_and_left_alone(
    tmp_path: Path, pg_url: str, reserve_args: Args, noon: datetime
) -> None:
    path = tmp_path / "bot.sqlite3"
    async with Store.open(path) as old:
        await seed(old, reserve_args, noon)
    async with Store.open(pg_url) as target:
        await target.set_meta("already", "here")

    with pytest.raises(TransferRefused, match="not empty: meta has 1 row"):
        await transfer(f"sqlite:{path}", pg_url)

    async with Store.open(pg_url) as target:
        assert await target.get_job(1) is None and await target.get_meta("already") == "here"


async def test_cli_copies_then_refuses_a_second_run_without_showing_the_password(
    tmp_path: Path, postgres_server: str, reserve_args: Args, noon: datetime, capsys: Any
) -> None:
    path = tmp_path / "bot.sqlite3"
    async with Store.open(path) as old:
        await seed(old, reserve_args, noon)
    async with fresh_database(postgres_server) as url:
        secret = url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
        assert await _cli("--from", f"sqlite:{path}", "--to", secret) == 0
        assert "copied 3 jobs, 4 ledger" in capsys.readouterr().out
        assert await _cli("--from", f"sqlite:{path}", "--to", secret) == 1
        err = capsys.readouterr().err
        assert "not empty: jobs has 3 row(s)" in err and "s3cret" not in err
    assert await _cli("--from", f"sqlite:{tmp_path / 'missing.sqlite3'}", "--to", "x.db") == 1
    assert "no database file" in capsys.readouterr().err


async def _cli(*argv: str) -> int:
    """``sora-bot migrate-db ...`` in a thread (it runs its own event loop)."""
    import asyncio

    return await asyncio.to_thread(main, ["migrate-db", *argv])
