"""After a SIGKILL, the process that claims a job edits its message with the job's own token.

Two real ``python -m bot`` processes (shard clusters 0 and 1 of 2) share one
SQLite file with ``test_failover_processes.LEASE`` as ``JOB_LEASE_SECONDS``;
the member's guild is on shard 0, so its process accepts the job and is killed
while the provider renders. The other process never saw the interaction: it
has only what the database kept, the interaction token and application id
stored at the reservation. While the token lives it edits the original
response through the interaction webhook; once it has run out, with the bot token.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.e2e.test_failover_processes import cluster_envs, rendering_on_shard_zero, start, stop
from tests.support.fake_discord import FakeDiscord, FakeInteraction, RecordedRequest
from tests.support.harness import KEY

WEBHOOK = "/webhooks/{app_id}/{token}/messages/{message_id}"
CHANNEL_EDIT = "/channels/{channel_id}/messages/{message_id}"
# Past the token's 15 minutes (and the messenger's margin), as a job's creation time.
EXPIRED_AGE = 16 * 60


async def killed_midway(
    fake: FakeDiscord, provider: FakeProvider, tmp_path: Path, *, expire: bool
) -> tuple[FakeInteraction, float, str]:
    """Run one job on shard 0's process, SIGKILL it while rendering, let shard 1 finish it.

    ``expire``: at the kill, the token runs out (Discord refuses it, and the
    job's stored creation time says so). Returns the interaction, when the kill
    was, and both processes' logs.
    """
    zero = fake.add_guild("Shard Zero", shard=(0, 2))
    zero.members.append(fake.user)
    db = tmp_path / "data" / "bot.sqlite3"
    envs = cluster_envs(fake, provider.url, tmp_path, str(db))
    holder = await start(envs[0], tmp_path)
    other = await start(envs[1], tmp_path)
    logs = ""
    try:
        ix = await rendering_on_shard_zero(fake, zero)
        logs += await stop(holder, signal.SIGKILL)
        killed_at = time.monotonic()
        if expire:
            fake.expire_token(ix)
            # What the claimer reads of the job: created long enough ago for the token to be over.
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute("UPDATE jobs SET created_at = created_at - ?", (EXPIRED_AGE,))
        await fake.wait_for(lambda: ix.content is not None and "✅" in ix.content, timeout=60)
    finally:
        logs += await stop(holder, signal.SIGKILL)
        logs += await stop(other)
    assert other.returncode == 0, logs[-3000:]
    assert "claimed 1 job(s) whose lease expired" in logs
    assert fake.token not in logs and KEY not in logs and ix.token not in logs
    return ix, killed_at, logs


def edits_after(fake: FakeDiscord, ix: FakeInteraction, at: float) -> list[RecordedRequest]:
    """The edits of the member's message (webhook or bot token) sent after ``at``."""
    assert ix.original is not None
    mine = str(ix.original.id)
    return [
        r
        for r in fake.requests
        if r.at > at
        and r.method == "PATCH"
        and (r.route == WEBHOOK or (r.route == CHANNEL_EDIT and r.params["message_id"] == mine))
    ]


async def test_the_claimed_job_edits_through_its_stored_interaction_token(
    tmp_path: Path,
) -> None:
    scenario = Scenario(api_key=KEY, steps=40, step_delay=0.25)  # renders ~10 s
    async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
        ix, killed_at, _ = await killed_midway(fake, provider, tmp_path, expire=False)

        after = edits_after(fake, ix, killed_at)
        assert after, "the claiming process never edited the message"
        # Every edit, progress and the final video alike, through the job's own webhook.
        assert all(r.route == WEBHOOK and r.status == 200 and not r.bot_auth for r in after)
        assert all(r.params["token"] == ix.token for r in after)
        assert all(r.params["message_id"] == "@original" for r in after)
        assert {r.params["app_id"] for r in after} == {str(fake.application_id)}
        assert [e.via for e in ix.edits if e.at > killed_at] == ["webhook"] * len(after)
        assert ix.original is not None and len(ix.original.attachments) == 1
        assert provider.recorder.submissions == 1
        assert fake.rate_limits.responses_429 == 0


async def test_once_the_token_is_over_the_claimed_job_edits_with_the_bot_token(
    tmp_path: Path,
) -> None:
    scenario = Scenario(api_key=KEY, steps=40, step_delay=0.25)
    async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
        ix, killed_at, _ = await killed_midway(fake, provider, tmp_path, expire=True)

        after = edits_after(fake, ix, killed_at)
        assert after, "the claiming process never edited the message"
        # The stored token is past its time: not even tried, the bot token edits the message.
        assert all(r.route == CHANNEL_EDIT and r.status == 200 and r.bot_auth for r in after)
        assert [e.via for e in ix.edits if e.at > killed_at] == ["bot"] * len(after)
        assert ix.original is not None and len(ix.original.attachments) == 1
        assert fake.channel_messages(ix.channel) == [ix.original]  # no new message posted
        assert provider.recorder.submissions == 1
