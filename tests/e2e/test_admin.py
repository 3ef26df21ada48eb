"""`/video-admin` end to end: the real bot, the fake Discord (with roles), real SQLite."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.fake_discord import MANAGE_GUILD
from tests.support.harness import running_world
from tests.support.operator import admin, answer, refused, video

MANAGE_GUILD_TEXT = str(MANAGE_GUILD)
# Ceilings above what these tests set (test_allowed_guilds.py tests the ceilings).
GENEROUS = {"server_max_daily_limit": 10, "server_max_extra_credits": 10}


async def test_group_is_for_server_managers_and_bot_owners(tmp_path: Path) -> None:
    async with running_world(tmp_path, **GENEROUS) as world:
        fake = world.discord
        mods = fake.add_role("Mods", permissions=MANAGE_GUILD)
        mod = fake.add_user("mod")
        fake.give_role(mod, mods)
        owner = fake.add_user("operator")  # in BOT_OWNER_IDS, no permission in the server
        fake.guild.members.append(owner)
        async with world.bot(owner_ids=(owner.id,)) as app:
            command = next(c for c in fake.commands.registered() if c["name"] == "video-admin")
            assert str(command["default_member_permissions"]) == MANAGE_GUILD_TEXT
            assert command["contexts"] == [0]  # servers only
            subcommands = {o["name"] for o in command["options"]}
            assert {"member-limit", "credits", "reset", "block", "unblock", "server-limit"} <= (
                subcommands
            )
            assert {"role-limit", "channel", "budget", "stats", "audit"} <= subcommands

            text = await admin(app, "server-limit", user=fake.user, credits=50)
            assert "Only members who can manage this server" in text
            assert (await app.store.guild_settings(fake.guild.id)).daily_limit is None

            assert "Server default set" in await admin(app, "server-limit", user=mod, credits=4)
            assert "Server default set" in await admin(app, "server-limit", user=owner, credits=5)
            assert (await app.store.guild_settings(fake.guild.id)).daily_limit == 5
            audit = await app.store.audit_log(fake.guild.id)
            assert [(e.actor_id, e.action) for e in audit] == [
                (owner.id, "set daily_limit"),
                (mod.id, "set daily_limit"),
            ]
            assert f"<@{owner.id}> **set daily_limit**" in await admin(app, "audit")


async def test_member_limit_changes_quota_and_what_video_allows(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        alice = app.discord.user
        assert "0** of **3" in await app.quota()
        assert "Limit set" in await admin(app, "member-limit", member=alice, credits=1)
        assert "0** of **1" in await app.quota()

        assert "✅" in await app.finished(await video(app))
        assert "used all 1" in await refused(app, await video(app))
        assert "1** of **1" in await app.quota()

        await admin(app, "member-limit", member=alice, credits=2)
        assert "✅" in await app.finished(await video(app))
        text = await admin(app, "member-limit", member=alice)
        assert "Removed the member's own limit" in text and "daily limit **3**" in text
        assert app.provider.recorder.submissions == 2


async def test_role_limits_most_generous_wins_and_own_limit_beats_roles(tmp_path: Path) -> None:
    async with running_world(tmp_path, **GENEROUS) as world:
        fake = world.discord
        supporters, vip = fake.add_role("Supporters"), fake.add_role("VIP")
        fake.give_role(fake.user, supporters)
        fake.give_role(fake.user, vip)
        bob = fake.add_user("bob")
        fake.give_role(bob, supporters)
        async with world.bot() as app:
            await admin(app, "server-limit", credits=1)
            await admin(app, "role-limit", role=supporters, credits=2)
            await admin(app, "role-limit", role=vip, credits=5)
            assert "of **5**" in await app.quota()
            assert "of **2**" in await app.quota(user=bob)
            assert "of **1**" in await app.quota(user=fake.add_user("carol"))

            info = await admin(app, "member", member=fake.user)
            assert "daily limit **5**" in info and f"<@&{vip.id}>" in info
            await admin(app, "role-limit", role=vip)  # removed
            assert "of **2**" in await app.quota()
            await admin(app, "member-limit", member=bob, credits=0)
            assert "0** of **0" in await app.quota(user=bob)
            assert "used all 0" in await refused(app, await video(app, user=bob))


async def test_extra_credits_are_spent_after_the_daily_ones(tmp_path: Path) -> None:
    async with running_world(tmp_path, **GENEROUS) as world, world.bot() as app:
        alice = app.discord.user
        await admin(app, "member-limit", member=alice, credits=0)
        assert "used all 0" in await refused(app, await video(app))

        assert "**2** extra credits" in await admin(app, "credits", member=alice, amount=2)
        assert "**2** extra credits" in await app.quota()
        assert "✅" in await app.finished(await video(app))
        assert "**1** extra credit," in await app.quota()  # singular (ngettext)
        assert "**0** extra credits" in await admin(app, "credits", member=alice, amount=-5)
        assert "used all 0" in await refused(app, await video(app))
        assert app.provider.recorder.submissions == 1


async def test_reset_gives_back_todays_credits(tmp_path: Path) -> None:
    async with running_world(tmp_path, quota_per_day=1) as world, world.bot() as app:
        assert "✅" in await app.finished(await video(app))
        assert "1** of **1" in await app.quota()
        assert "got back 1 credit" in await admin(app, "reset", member=app.discord.user)
        assert "0** of **1" in await app.quota()
        assert "✅" in await app.finished(await video(app))


async def test_block_and_unblock(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        alice = app.discord.user
        assert "is now blocked" in await admin(app, "block", member=alice, reason="spam")
        text = await refused(app, await video(app))
        assert "not allowed to make videos" in text and "Reason: spam" in text
        assert "not allowed to make videos" in await app.quota()
        assert "can make videos again" in await admin(app, "unblock", member=alice)
        assert "✅" in await app.finished(await video(app))
        assert app.provider.recorder.submissions == 1


async def test_video_restricted_to_chosen_channels(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        videos = world.discord.add_channel("videos")
        async with world.bot() as app:
            assert f"only in: <#{videos.id}>" in await admin(app, "channel add", channel=videos)
            text = await refused(app, await video(app))
            assert f"can only be used in <#{videos.id}>" in text
            assert "✅" in await app.finished(await video(app, channel=videos))
            assert f"<#{videos.id}>" in await admin(app, "channel list")
            assert "every channel" in await admin(app, "channel clear")
            assert "✅" in await app.finished(await video(app))
            assert app.provider.recorder.submissions == 2


async def test_stats_and_audit(tmp_path: Path) -> None:
    async with running_world(tmp_path, quota_per_day=1) as world, world.bot() as app:
        alice = app.discord.user
        assert "✅" in await app.finished(await video(app))
        await refused(app, await video(app))  # over quota: not a job
        text = await admin(app, "stats")
        assert "**Today:** 1 jobs · 1 completed, 0 failed" in text
        assert "success 100%" in text and "1 credit" in text
        assert "≈ 1.00 USD" in text  # sora-2, 10 s at the default 0.10 USD per second
        assert f"<@{alice.id}> 1 jobs (1 credit)" in text
        assert "over 1 videos this month" in text
        assert "Only the bot's owners" in await admin(app, "stats", all_servers=True)
        metrics = await app.bot.metrics.render(app.store)
        assert b'sora_jobs_refused_total{reason="quota"} 1.0' in metrics


async def test_unknown_member_answer_goes_through_the_error_handler(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        ix = await app.discord.slash(
            "video-admin credits",
            {"member": app.discord.user, "amount": 0},
            user=app.discord.owner,
        )
        assert "Give a number of credits" in await answer(app, ix)


async def test_stats_attach_the_spend_chart_of_the_last_30_days(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world, world.bot() as app:
        assert "✅" in await app.finished(await video(app))
        ix = await app.discord.slash("video-admin stats", {}, user=app.discord.owner)
        assert "**Today:** 1 jobs" in await answer(app, ix)
        (chart,) = ix.followups[0].attachments
        assert chart.filename == "spend-30-days.png"
        assert chart.data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(chart.data)) as picture:
            assert picture.size == (1200, 900)
            assert len(picture.convert("RGB").getcolors(1 << 20) or []) > 100  # not blank
