"""No member can make the provider render past the limits, through the real bot.

Each test counts what the fake provider accepted (``recorder.submissions``) or
was even asked (POSTs to its submit route): the operator pays for those. A job
is marked billable before its submission leaves and never sent when that
cannot be recorded; a Cancel after submission keeps the credit (after a
confirmation); refunded failures stop at the member's limit plus
``REFUND_ALLOWANCE_PER_DAY``; a Retry from a DM applies the server's rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.db import Store
from bot.db.sqlite_backend import SqliteBackend
from bot.fake_provider.scenario import Scenario
from tests.support.fake_discord import FakeInteraction
from tests.support.harness import KEY, App, photo_bytes, running_app, running_world

SUBMIT = "/v2/videos/generations"


def slow(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 6, "step_delay": 0.1, **knobs})


@contextlib.asynccontextmanager
async def submission_marks_refused(store: Store) -> AsyncIterator[None]:
    """SQLite itself refuses the write that marks a job as sent, and only that write.

    A temporary trigger on the store's own connection aborts any update that sets
    ``submitted_at`` (taking a slot, settling and the rest still work), as a
    failing disk would for that one transaction.
    """
    backend = store._backend
    assert isinstance(backend, SqliteBackend)
    await backend.on_connection(
        lambda conn: conn.execute(
            "CREATE TEMP TRIGGER refuse_marks BEFORE UPDATE OF submitted_at ON main.jobs"
            " WHEN NEW.submitted_at IS NOT NULL"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    )
    try:
        yield
    finally:
        await backend.on_connection(lambda conn: conn.execute("DROP TRIGGER refuse_marks"))


def submit_attempts(app: App) -> int:
    """Every submission the bot sent the provider (accepted or not)."""
    return app.provider.recorder.count("POST", SUBMIT)


async def until_final(app: App, job_id: int) -> str:
    """Wait until the job's row is final (woken by each log line about it); its status."""
    while True:
        woken = app.logs.event(f"job {job_id}")
        [row] = app.rows("SELECT status FROM jobs WHERE id = ?", job_id)
        if row["status"] in ("completed", "failed", "cancelled"):
            return str(row["status"])
        await asyncio.wait_for(woken.wait(), 15)


async def cancel_and_confirm(app: App, ix: FakeInteraction, sent: int) -> str:
    """Press Cancel once the provider has the job (its ``sent``-th), confirm; its last message."""
    fake = app.discord
    await fake.wait_for(lambda: app.provider.recorder.submissions == sent)
    await fake.wait_for(lambda: ix.original is not None and bool(ix.original.components))
    assert ix.original is not None
    [button] = ix.original.custom_ids()
    asked = await fake.click(ix.original, button)
    await fake.wait_for(lambda: asked.callback is not None)
    assert asked.original is not None and "will not come back" in asked.original.content
    [confirm] = asked.original.custom_ids()
    await fake.click(asked.original, confirm)
    await fake.wait_for(lambda: ix.content is not None and "Cancelled by" in ix.content)
    assert ix.content is not None
    return ix.content


async def test_a_submission_that_cannot_be_recorded_is_never_sent(tmp_path: Path) -> None:
    scenario = slow(never_finish=True)
    async with running_app(tmp_path, "generations", scenario, max_concurrent_jobs=1) as app:
        bob = app.discord.add_user("bob")
        blocker = await app.video(user=bob, prompt="bob's boat drifts")
        await app.discord.wait_for(lambda: app.provider.recorder.submissions == 1)
        waiting = await app.video()  # queued behind bob's job
        await app.discord.wait_for(lambda: waiting.deferred and len(waiting.edits) >= 1)
        gave_up = app.logs.event("could not record its submission")
        async with submission_marks_refused(app.store):
            app.provider.scenario.never_finish = False  # bob's job ends: the slot frees
            await asyncio.wait_for(gave_up.wait(), 15)
        content = await app.finished(waiting)
        assert "was not sent" in content and "refunded" in content
        assert "✅" in await app.finished(blocker)
        assert submit_attempts(app) == 1 and app.provider.recorder.submissions == 1
        [job] = app.jobs(app.discord.user)
        assert await until_final(app, job["id"]) == "failed"
        [job] = app.jobs(app.discord.user)
        assert job["submitted_at"] is None
        assert await app.used() == 0
        await app.check_ledger()


async def test_a_job_marked_before_a_crash_is_not_sent_again(tmp_path: Path) -> None:
    async with running_world(tmp_path, "generations") as world:
        async with world.bot() as app:
            # What a bot killed right after marking the job (and before the provider's
            # answer) leaves: a reserved job, billable, with no provider task id.
            fake = world.discord
            job = await app.store.reserve(
                user_id=fake.user.id,
                guild_id=fake.guild.id,
                channel_id=fake.channel.id,
                prompt="the leaves start to move",
                options={"model": "sora-2", "duration": 10, "orientation": "portrait"},
                image_url=fake.upload(photo_bytes(), "photo.jpg").url,
                protocol="generations",
                cost=1,
                daily_limit=3,
                max_running=3,
            )
            # The bot is running: resumption happened already; this job appears later,
            # held by this process (as the service does on accept), which then "dies".
            await app.store.take_lease(job.id, app.bot.jobs.owner, 30)
            await app.store.mark_submitting(job.id)
        async with world.bot() as app:  # the restart
            told = await fake.wait_for(
                lambda: next(
                    (m for m in fake.channel_messages(fake.channel) if "❌" in m.content), None
                ),
                10,
            )
            assert "restarted" in told.content and "refunded" in told.content
            assert world.provider.recorder.count("POST", SUBMIT) == 0
            [row] = app.jobs()
            assert row["status"] == "failed" and row["submitted_at"] is not None
            assert await app.used() == 0


async def test_a_dropped_defer_refunds_the_reservation(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations") as app:
        app.discord.cut_connections["POST /interactions/{interaction_id}/{token}/callback"] = 1
        ix = await app.video()
        await app.discord.wait_for(lambda: ix.callback is not None)
        assert ix.ephemeral and "Nothing was charged" in str(ix.callback.data.get("content"))
        [job] = app.jobs()
        assert job["status"] == "failed" and await app.used() == 0
        assert submit_attempts(app) == 0
        await app.another_member_succeeds()
        await app.check_ledger()


async def test_cancel_before_submission_is_refunded_without_asking(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow(), max_concurrent_jobs=1) as app:
        blocker = await app.video(user=app.discord.add_user("bob"), prompt="bob's boat")
        queued = await app.video()
        await app.discord.wait_for(lambda: queued.original is not None and queued.edits)
        assert queued.original is not None
        [button] = queued.original.custom_ids()
        click = await app.discord.click(queued.original, button)
        assert "refunded" in await app.refusal(click)
        content = await app.finished(queued)
        assert "Cancelled by" in content and "refunded" in content
        assert "✅" in await app.finished(blocker)
        assert app.provider.recorder.submissions == 1  # only bob's
        assert await app.used() == 0
        await app.check_ledger()


async def test_submit_and_cancel_rounds_stop_at_the_daily_limit(tmp_path: Path) -> None:
    async with running_app(tmp_path, "generations", slow(never_finish=True)) as app:
        limit = app.bot.settings.quota_per_day
        for n in range(1, limit + 1):
            ix = await app.video()
            content = await cancel_and_confirm(app, ix, n)
            assert "not refunded" in content
        refused = await app.refusal(await app.video())
        assert "used all 3" in refused
        assert app.provider.recorder.submissions == submit_attempts(app) == limit
        assert await app.used() == limit


async def test_cancel_rounds_stop_at_the_bots_cap(tmp_path: Path) -> None:
    async with running_app(
        tmp_path, "generations", slow(never_finish=True), budget_daily_credits=2
    ) as app:
        for n in (1, 2):
            await cancel_and_confirm(app, await app.video(), n)
        other = app.discord.add_user("mallory")
        assert "daily video budget" in await app.refusal(await app.video(user=other))
        assert app.provider.recorder.submissions == submit_attempts(app) == 2


async def test_provoked_failures_stop_at_the_limit_plus_the_allowance(tmp_path: Path) -> None:
    async with running_app(
        tmp_path, "generations", slow(fail_at=20), quota_per_day=2, refund_allowance_per_day=1
    ) as app:
        for _ in range(3):  # 2 credits + 1 of refunded renders
            content = await app.finished(await app.video())
            assert "❌" in content and "refunded" in content
        text = await app.refusal(await app.video())
        assert "too many failed or cancelled videos today" in text and "<t:" in text
        assert app.provider.recorder.submissions == submit_attempts(app) == 3
        assert await app.used() == 0  # every credit came back; the renders did not
        await app.check_ledger()


async def test_submissions_the_provider_refuses_cost_the_operator_nothing(
    tmp_path: Path,
) -> None:
    # A provider answering every submission with 503: it never takes a job, so
    # neither the budget nor the member's render gate may count them.
    async with running_app(
        tmp_path,
        "generations",
        slow(error_forever=503),
        quota_per_day=1,
        refund_allowance_per_day=0,
        budget_daily_credits=1,
    ) as app:
        for _ in range(3):  # more than the limit, the allowance and the cap together
            content = await app.finished(await app.video())
            assert "❌" in content and "refunded" in content
        assert app.provider.recorder.submissions == 0 and submit_attempts(app) >= 3
        assert (await app.store.spend()).credits == 0
        assert all(row["submitted_at"] is None for row in app.jobs())
        assert await app.used() == 0
        await app.check_ledger()


async def test_retry_from_a_dm_applies_the_servers_rules(tmp_path: Path) -> None:
    async with running_world(tmp_path, "generations", slow(fail_at=20)) as world:
        fake = world.discord
        vip = fake.add_role("vip")
        fake.give_role(fake.user, vip)  # a member of the server, with a role
        async with world.bot() as app:
            ix = await app.video()
            assert "❌" in await app.finished(ix)
            assert ix.original is not None
            # The member presses Retry on a copy of the message in their DMs.
            dm = fake.dm_channel(fake.user)
            copy = fake.new_message(dm, fake.bot_user)
            copy.components = ix.original.components
            [retry] = copy.custom_ids()
            # Their role limit (5) is fetched from the server: a 0-credit role would refuse.
            await app.store.set_role_limit(fake.guild.id, vip.id, 0, actor_id=fake.owner.id)
            press = await fake.click(copy, retry)
            text = await app.refusal(press)
            assert "used all 0" in text
            await app.store.set_role_limit(fake.guild.id, vip.id, 5, actor_id=fake.owner.id)
            app.provider.scenario.fail_at = None
            press = await fake.click(copy, retry)
            assert "✅" in await app.finished(press)
            [_, second] = app.jobs()
            assert second["guild_id"] == fake.guild.id and second["channel_id"] == fake.channel.id
            # No longer a member: refused, nothing charged.
            fake.guild.members.remove(fake.user)
            fake.guild.member_roles.pop(fake.user.id)
            gone = await fake.click(copy, retry)
            assert "no longer a member" in await app.refusal(gone)
            assert len(app.jobs()) == 2
