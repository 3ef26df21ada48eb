"""The bot on PostgreSQL (DATABASE_URL): a video, a refund, quota exhaustion; no SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, running_app
from tests.support.postgres import fresh_database


async def test_video_refund_and_quota_on_postgresql_write_nothing_to_the_sqlite_path(
    tmp_path: Path, postgres_server: str
) -> None:
    scenario = Scenario(api_key=KEY, steps=3, step_delay=0.02, fail_at=60)
    async with fresh_database(postgres_server) as url:
        async with running_app(
            tmp_path, "generations", scenario, quota_per_day=2, database_url=url
        ) as app:
            assert app.store.backend_name == "postgresql"
            # The provider fails the first video: the credit comes back.
            failed = await app.video()
            content = await app.finished(failed)
            assert "❌" in content and "refunded" in content
            assert "0** of **2" in await app.quota()

            app.provider.scenario.fail_at = None
            for prompt in ("a fox runs", "a kite rises"):
                ix = await app.video(prompt=prompt)
                assert "✅" in await app.finished(ix)
            assert "2** of **2" in await app.quota()

            # Out of credits: refused before the provider hears of it.
            refused = await app.video()
            await app.discord.wait_for(lambda: refused.callback is not None)
            assert refused.callback is not None and refused.callback.ephemeral
            assert "used all 2" in refused.callback.data["content"]
            assert app.provider.recorder.submissions == 3
            assert await app.store.unfinished_jobs() == []

        # Everything is in PostgreSQL, nothing at (or beside) DATABASE_PATH.
        assert not [p.name for p in os.scandir(tmp_path) if p.name.startswith("bot.sqlite3")]
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT id, status FROM jobs ORDER BY id")
            ledger = await conn.fetch("SELECT job_id, kind, amount FROM ledger ORDER BY id")
        finally:
            await conn.close()
        assert [r["status"] for r in rows] == ["failed", "completed", "completed"]
        first, second, third = (r["id"] for r in rows)
        # Reserved once each, the failed one refunded once: 2 credits kept.
        expected = [(first, "refund", -1), (first, "reserve", 1)]
        expected += [(second, "reserve", 1), (third, "reserve", 1)]
        assert sorted(tuple(r) for r in ledger) == expected
