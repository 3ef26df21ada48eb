"""Strangers cannot use the bot, nor grant themselves credits: end to end.

The real bot against the fake Discord and a fake provider: ``ALLOWED_GUILD_IDS``
(refusals before anything runs, leaving other servers), the operator's
ceilings on `/video-admin`, and `reset` acting on its own server only.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.fake_provider.scenario import Scenario
from bot.ui.admin_text import NOT_SERVED
from tests.support.fake_discord import FakeGuild, FakeInteraction, FakeUser
from tests.support.harness import KEY, App, running_world
from tests.support.operator import admin, answer, refused, video


async def in_server(
    app: App, guild: FakeGuild, command: str, user: FakeUser, **options: object
) -> FakeInteraction:
    """``/<command>`` in ``guild`` (its first channel) as ``user``."""
    return await app.discord.slash(command, dict(options), user=user, guild=guild)


def left(app: App, guild: FakeGuild) -> bool:
    """Whether the bot asked Discord to leave ``guild``."""
    path = f"/users/@me/guilds/{guild.id}"
    return any(r.path == path for r in app.discord.requests_to("DELETE", "/users/@me/guilds"))


async def test_an_unlisted_server_is_refused_everything_and_left(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, never_finish=True)  # alice's job keeps running
    async with running_world(tmp_path, scenario=scenario) as world:
        fake = world.discord
        mallory = fake.add_user("mallory")
        theirs = fake.add_guild("Mallory's server", owner=mallory)  # Manage Server there
        theirs.members.append(fake.user)
        async with world.bot(allowed_guild_ids=(fake.guild.id,)) as app:
            await fake.wait_for(lambda: left(app, theirs))
            assert not left(app, fake.guild)
            assert any(
                f"leaving server {theirs.id}" in m and "not in ALLOWED_GUILD_IDS" in m
                for m in world.logs.messages("bot.app")
            )

            # Alice's video in the operator's server runs.
            job_ix = await video(app)
            await fake.wait_for(lambda: app.provider.recorder.submissions == 1)
            job_id = app.jobs()[0]["id"]

            # Interactions still reaching the bot from that server (Discord may deliver
            # some before the leave lands) are refused before any command runs.
            made = await video(app, user=mallory, channel=theirs.channels[0])
            assert await refused(app, made) == NOT_SERVED
            # The bot has read every gateway frame sent before that interaction's,
            # GUILD_DELETE included: the server is gone from its cache.
            assert app.bot.get_guild(theirs.id) is None
            grant = await in_server(
                app, theirs, "video-admin credits", mallory, member=mallory, amount=40
            )
            assert await answer(app, grant) == NOT_SERVED
            reset = await in_server(app, theirs, "video-admin reset", mallory, member=fake.user)
            assert await answer(app, reset) == NOT_SERVED
            assert await answer(app, await in_server(app, theirs, "quota", mallory)) == NOT_SERVED

            # A job button there (a message from before the server was dropped): the
            # click is refused too, though Mallory manages that server.
            stale = fake.new_message(theirs.channels[0], fake.bot_user)
            custom_id = f"video:cancel:{job_id}"
            button = {"type": 2, "style": 4, "label": "Cancel", "custom_id": custom_id}
            stale.components = [{"type": 1, "components": [button]}]
            await fake.publish(stale)
            click = await fake.click(stale, custom_id, user=mallory)
            assert await answer(app, click) == NOT_SERVED

            # Nothing reached the provider or the store from there.
            assert app.provider.recorder.submissions == 1
            jobs = app.jobs()
            assert [j["guild_id"] for j in jobs] == [fake.guild.id]
            assert jobs[0]["status"] in ("submitted", "running")  # not cancelled
            assert app.rows("SELECT * FROM member_settings") == []
            assert app.rows("SELECT * FROM audit_log") == []
            assert app.rows("SELECT * FROM usage_adjustments") == []
            assert "✅" not in (job_ix.content or "") and "❌" not in (job_ix.content or "")

            # DMs are outside any server: /quota still answers there.
            dm = await fake.slash("quota", {}, channel=fake.dm_channel(fake.user))
            assert "of **3**" in await answer(app, dm)


async def test_the_bot_leaves_a_server_that_adds_it_later(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        fake = world.discord
        async with world.bot(allowed_guild_ids=(fake.guild.id,)) as app:
            joined = world.logs.event("just added")
            theirs = await fake.join_guild("Mallory's server", owner=fake.add_user("mallory"))
            await joined.wait()
            await fake.wait_for(lambda: left(app, theirs))
            assert not fake.in_guild(theirs) and fake.in_guild(fake.guild)
            assert "✅" in await app.finished(await video(app))  # the allowed one is served
            # Read after the GUILD_DELETE frame, which came before that interaction's.
            assert app.bot.get_guild(theirs.id) is None
            assert app.bot.get_guild(fake.guild.id) is not None


async def test_an_open_bot_warns_at_start_and_stays_everywhere(tmp_path: Path) -> None:
    async with running_world(tmp_path, log_level=logging.INFO) as world:
        fake = world.discord
        other = fake.add_guild("Another server")
        async with world.bot() as app:  # ALLOWED_GUILD_IDS empty
            warnings = [r.getMessage() for r in world.logs.records if r.levelno == logging.WARNING]
            assert any("ALLOWED_GUILD_IDS is empty" in w and "Public Bot" in w for w in warnings), (
                warnings
            )
            fake.give_role(fake.user, fake.add_role("x", other), other)
            ix = await video(app, channel=other.channels[0])
            assert "✅" in await app.finished(ix)
            assert not left(app, other) and not left(app, fake.guild)


async def test_managers_cannot_set_anything_above_the_operators_ceilings(tmp_path: Path) -> None:
    async with (
        running_world(tmp_path, budget_server_daily_credits=10) as world,
        world.bot(allowed_guild_ids=(world.discord.guild.id,)) as app,
    ):
        alice = app.discord.user
        text = await admin(app, "server-limit", credits=50)
        assert "at most 3 credits a day" in text and "SERVER_MAX_DAILY_LIMIT" in text
        text = await admin(app, "member-limit", member=alice, credits=4)
        assert "SERVER_MAX_DAILY_LIMIT" in text
        text = await admin(app, "credits", member=alice, amount=40)
        assert "turned extra credits off" in text
        text = await admin(app, "budget set", credits=100)
        assert "at most 10 credits (`SERVER_MAX_BUDGET_CREDITS`)" in text
        assert app.rows("SELECT * FROM audit_log") == []
        assert "0** of **3" in await app.quota()

        # Within the ceilings all of it works.
        assert "Limit set" in await admin(app, "member-limit", member=alice, credits=3)
        assert "0/5 credits" in await admin(app, "budget set", credits=5)


async def test_a_lowered_ceiling_holds_limits_stored_before(tmp_path: Path) -> None:
    async with running_world(tmp_path, quota_per_day=1) as world:
        alice = world.discord.user
        async with world.bot(server_max_daily_limit=5) as app:
            assert "Limit set" in await admin(app, "member-limit", member=alice, credits=5)
            assert "0** of **5" in await app.quota()
        async with world.bot(server_max_daily_limit=2) as app:  # the operator lowered it
            assert "0** of **2" in await app.quota()
            assert "✅" in await app.finished(await video(app))
            assert "✅" in await app.finished(await video(app))
            assert "used all 2" in await refused(app, await video(app))
            assert app.provider.recorder.submissions == 2


async def test_reset_in_one_server_gives_back_nothing_used_in_another(tmp_path: Path) -> None:
    async with running_world(tmp_path, quota_per_day=2) as world:
        fake = world.discord
        alice = fake.user
        server_b = fake.add_guild("Server B", owner=fake.add_user("bea"))
        server_b.members.append(alice)
        allowed = (fake.guild.id, server_b.id)
        async with world.bot(allowed_guild_ids=allowed) as app:
            assert "✅" in await app.finished(await video(app))  # in the operator's server A
            assert "✅" in await app.finished(await video(app, channel=server_b.channels[0]))
            assert "used all 2" in await refused(app, await video(app))

            reset = await in_server(
                app, server_b, "video-admin reset", server_b.owner, member=alice
            )
            assert "got back 1 credit for today" in await answer(app, reset)
            again = await in_server(
                app, server_b, "video-admin reset", server_b.owner, member=alice
            )
            assert "no credits used in this server" in await answer(app, again)
            assert await app.used() == 1  # server A's credit still counts

            assert "✅" in await app.finished(await video(app))
            assert "used all 2" in await refused(app, await video(app))
            assert app.provider.recorder.submissions == 3
