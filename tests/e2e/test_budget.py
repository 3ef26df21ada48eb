"""Costs, budget caps and the prompt filter through `/video`, end to end."""

from __future__ import annotations

from pathlib import Path

from bot.fake_provider.scenario import Scenario
from bot.rules.costs import CostTable
from bot.rules.prompt_filter import PromptFilter
from tests.support.harness import KEY, running_world
from tests.support.operator import admin, refused, video


async def test_bot_daily_cap_refuses_the_job_that_would_pass_it(tmp_path: Path) -> None:
    async with running_world(tmp_path, budget_daily_credits=2) as world, world.bot() as app:
        fake = world.discord
        assert "✅" in await app.finished(await video(app))
        assert "✅" in await app.finished(await video(app, user=fake.add_user("bob")))
        carol = fake.add_user("carol")
        text = await refused(app, await video(app, user=carol))
        assert "needs 1 credit, but only 0 credits are left in the bot's daily video budget" in (
            text
        )
        assert "0** of **3" in await app.quota(user=carol)  # nothing was charged
        assert app.provider.recorder.submissions == 2
        assert "bot 2/2 credits" in await admin(app, "stats")


async def test_server_cap_set_by_an_admin_and_money_caps(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        fake = world.discord
        assert "0/1 credits" in await admin(app, "budget set", credits=1)
        assert "✅" in await app.finished(await video(app))
        text = await refused(app, await video(app, user=fake.add_user("bob")))
        assert "this server's daily video budget" in text
        assert "no daily cap" in await admin(app, "budget clear")
        # 10 s of sora-2 is estimated at 1.00 USD: with 1.00 spent, 2.50 allows one more only.
        assert "1.00 USD of 2.50 USD" in await admin(app, "budget set", money="2.50")
        assert "✅" in await app.finished(await video(app, user=fake.add_user("carol")))
        text = await refused(app, await video(app, user=fake.add_user("dave")))
        assert "would go over this server's daily spending limit" in text
        assert "USD" not in text  # money stays with the operator
        assert "not an amount" in await admin(app, "budget set", money="lots")
        assert app.provider.recorder.submissions == 2


async def test_weighted_cost_is_shown_charged_and_explained(tmp_path: Path) -> None:
    costs = CostTable.parse("sora-2:2, sora-2-pro:5")
    async with running_world(tmp_path, cost_table=costs) as world, world.bot() as app:
        ix = await video(app)
        assert "✅" in await app.finished(ix)
        assert ix.original is not None and "2 credits" in ix.original.content.splitlines()[0]
        assert "2** of **3" in await app.quota()
        text = await refused(app, await video(app))
        assert "This video costs 2 credits, but you have only 1 credit left today" in text
        job = (await app.store.recent_jobs(app.discord.user.id))[0]
        assert (job.cost, job.options.get("cost")) == (2, 2)


async def test_prompt_filter_refuses_without_echoing_or_charging(tmp_path: Path) -> None:
    rules = PromptFilter.from_settings("dragonfire, /\\bfoo+bar\\b/", None)
    async with running_world(tmp_path, prompt_filter=rules) as world, world.bot() as app:
        text = await refused(app, await video(app, prompt="a huge DragonFire over the city"))
        assert "not allowed here" in text
        assert "dragonfire" not in text.lower()
        text = await refused(app, await video(app, prompt="fooooobar dance"))
        assert "fooooobar" not in text.lower()
        assert "0** of **3" in await app.quota()
        assert app.provider.recorder.submissions == 0
        assert app.jobs() == []
        assert "✅" in await app.finished(await video(app, prompt="a calm fire in a hearth"))


async def test_a_video_failed_at_the_provider_keeps_its_share_of_the_budget(
    tmp_path: Path,
) -> None:
    scenario = Scenario(api_key=KEY, steps=3, step_delay=0.02, fail_at=60)
    async with (
        running_world(tmp_path, "generations", scenario, budget_daily_credits=1) as world,
        world.bot() as app,
    ):
        # The member is refunded, but the provider rendered (and bills) it.
        assert "❌" in await app.finished(await video(app))
        assert await app.used() == 0
        assert (await app.store.spend()).credits == 1
        app.provider.scenario.fail_at = None
        bob = world.discord.add_user("bob")
        assert "bot's daily video budget" in await refused(app, await video(app, user=bob))
