"""Final messages share the rate budgets of progress edits: many at once, still no 429.

Jobs whose interaction token is over edit their message with the bot token, so
their final messages (the video, uploaded) count toward Discord's global limit
(50 a second per bot) and each channel's (about 30 a minute). Here 52 such jobs
in 4 channels all finish within the same poll of the provider: their finals
alone would pass the global limit in a fraction of a second. The fake Discord
enforces both limits without telling the bot its buckets' state (``headers=False``),
so only the bot's own pacing keeps it under them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from discord.utils import utcnow as discord_now

from bot.fake_provider.scenario import Scenario
from bot.ui.edits import EditBudget, EditHandle, EditScheduler
from tests.support.fake_discord import Bucket, FakeInteraction, RecordedRequest
from tests.support.harness import KEY, App, photo_bytes, running_app

CHANNELS = 4
PER_CHANNEL = 13  # with the first progress edit of each: 26 requests, inside 24 + the reserve
CHANNEL_EDIT = "/channels/{channel_id}/messages/{message_id}"


def bot_for(
    tmp_path: Path, scenario: Scenario, jobs: int, budget: EditBudget
) -> AbstractAsyncContextManager[App]:
    """The real bot on ``budget``, running ``jobs`` at once, asking for an edit at every event."""
    return running_app(
        tmp_path,
        "generations",
        scenario,
        max_concurrent_jobs=jobs,
        progress_interval=0.05,  # far more edits than the budgets allow
        edit_budget=budget,
    )


async def rendering_with_the_bot_token(
    app: App, channels: int, per_channel: int
) -> list[FakeInteraction]:
    """Start jobs in ``channels`` channels, past their token's use; wait until each renders."""
    fake = app.discord
    rooms = [fake.channel] + [fake.add_channel(f"videos-{i}") for i in range(1, channels)]
    old = discord_now() - dt.timedelta(minutes=14)  # the token has under 90 s left
    jobs = []
    for c, channel in enumerate(rooms):
        for i in range(per_channel):
            user = fake.add_user(f"member{c}x{i}")
            image = fake.upload(photo_bytes(), "photo.jpg")
            options = {"image": image, "prompt": "the leaves start to move"}
            jobs.append(
                await fake.slash("video", options, user=user, channel=channel, created_at=old)
            )
    # Each job renders at the provider (which holds it before the end) and showed its progress.
    while True:
        logged = app.logs.event(" submitted")  # before counting: no record slips between
        if sum(" submitted" in m for m in app.logs.messages("bot.providers")) >= len(jobs):
            break
        await asyncio.wait_for(logged.wait(), 60)
    await fake.wait_for(lambda: all(ix.edits for ix in jobs), timeout=60)
    for ix in jobs:
        fake.expire_token(ix)  # and Discord refuses the token, should the bot try it
    return jobs


def overtaking(scheduler: EditScheduler) -> list[str]:
    """Progress edits the scheduler chose in a channel while a final there was waiting.

    Filled as the bot runs: after each planning pass, a progress edit chosen on a
    channel's window that a waiting final also needs went ahead of that final.
    """
    overtook: list[str] = []
    plan = scheduler.plan

    def planned(now: float) -> tuple[list[tuple[EditHandle, str]], float | None]:
        chosen, next_due = plan(now)
        waiting = [w for w in scheduler.finals._waiting if not w.future.done()]
        for handle, _ in chosen:
            via_interaction, channel = handle.route()
            if via_interaction or channel is None:
                continue
            window = scheduler._channel(channel)
            if any(window in w.windows for w in waiting):
                overtook.append(handle.name)
        return chosen, next_due

    scheduler.plan = planned  # type: ignore[method-assign]
    return overtook


def is_final(request: RecordedRequest) -> bool:
    """A job's final message here: the edit that uploads its video."""
    return request.route == CHANNEL_EDIT and request.method == "PATCH" and bool(request.files)


async def test_bot_token_finals_finishing_together_stay_inside_discords_limits(
    tmp_path: Path,
) -> None:
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.05, never_finish=True)
    budget = EditBudget()  # Discord's budgets, as in production
    async with bot_for(tmp_path, scenario, CHANNELS * PER_CHANNEL, budget) as app:
        limits = app.discord.rate_limits
        limits.global_ = Bucket(limit=50, period=1.0, headers=False)
        limits.channel_messages = Bucket(limit=30, period=60.0, headers=False)
        jobs = await rendering_with_the_bot_token(app, CHANNELS, PER_CHANNEL)
        overtook = overtaking(app.bot.jobs.edits)

        scenario.never_finish = False  # every job ends at its next poll
        for ix in jobs:
            assert "✅" in await app.finished(ix, timeout=60)

        assert limits.responses_429 == 0
        assert limits.global_.hits == 0 and limits.channel_messages.hits == 0
        # Every member got the video, attached to their own message, with the bot token.
        for ix in jobs:
            assert ix.original is not None and len(ix.original.attachments) == 1
            assert ix.edits[-1].via == "bot"
        requests = list(app.discord.requests)
        finals = [i for i, r in enumerate(requests) if is_final(r)]
        assert len(finals) == len(jobs)
        assert overtook == []  # finals first: no progress edit went ahead of a waiting one
        # No final waited but for the budget: each asked once, and the only ones that
        # waited are those the global window could not take in the second they asked.
        gate = app.bot.jobs.edits.finals
        assert gate.granted == len(jobs)
        first = requests[finals[0]].at
        # Bot-token requests just before the finals still filled part of that window.
        earlier = [r for r in requests[: finals[0]] if r.bot_auth and r.at > first - 1.5]
        assert gate.waited <= len(jobs) - (budget.global_limit - len(earlier))
        assert gate.waited >= len(jobs) - budget.global_limit


async def test_finals_take_every_slot_of_a_channel_that_progress_edits_keep_full(
    tmp_path: Path,
) -> None:
    """One busy channel: its progress edits use the whole channel budget until the end.

    Discord's channel limit (30 a minute, the bot's budget 24 + 4 kept for finals)
    is scaled to the same numbers per 6 s, so the test waits seconds, not minutes.
    """
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.05, never_finish=True)
    budget = EditBudget(channel_period=6.0)
    async with bot_for(tmp_path, scenario, 20, budget) as app:
        fake = app.discord
        limits = fake.rate_limits
        limits.global_ = Bucket(limit=50, period=1.0, headers=False)
        limits.channel_messages = Bucket(limit=30, period=6.0, headers=False)
        jobs = await rendering_with_the_bot_token(app, 1, 20)
        overtook = overtaking(app.bot.jobs.edits)
        # The channel's window is full of progress edits (the budget's 24, then some).
        await fake.wait_for(
            lambda: len(fake.requests_to("PATCH", CHANNEL_EDIT)) > budget.channel_limit, timeout=60
        )

        scenario.never_finish = False
        for ix in jobs:
            assert "✅" in await app.finished(ix, timeout=60)

        assert limits.responses_429 == 0 and limits.channel_messages.hits == 0
        for ix in jobs:
            assert ix.original is not None and len(ix.original.attachments) == 1
        edits = fake.requests_to("PATCH", CHANNEL_EDIT)
        finals = [i for i, r in enumerate(edits) if is_final(r)]
        assert len(finals) == len(jobs)
        # Every slot the channel freed while a final waited went to a final.
        assert overtook == []
        gate = app.bot.jobs.edits.finals
        assert gate.granted == len(jobs)
        # The reserve took some at once; the others waited for the window, as they must.
        assert 0 < gate.waited <= len(jobs) - budget.channel_reserve
