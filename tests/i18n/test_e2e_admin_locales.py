"""A server manager who reads Chinese, in a Chinese server: `/video-admin` and `/history`.

Through the fake Discord, a fake provider and real SQLite: the admin answers
(a deferred `stats` with its chart, a refusal) and the private `/history` page
with its buttons follow the member's ``locale``; a member on an English client
in the same server still reads English. The synced group carries its
``name_localizations``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.fake_provider.scenario import Scenario
from bot.jobs.history import PAGE_SIZE
from bot.jobs.ledger import RESTART_REASON
from tests.support.fake_discord import FakeMessage
from tests.support.harness import KEY, App, running_app
from tests.support.operator import answer, video

OPTIONS = {"model": "sora-2", "duration": 10, "orientation": "portrait", "hd": False}
DEFERRED = 5


def _labels(message: FakeMessage) -> list[str]:
    return [i["label"] for row in message.components for i in row.get("components", [])]


async def _history(app: App, locale: str, user: Any) -> FakeMessage:
    ix = await app.discord.slash("history", {}, user=user, locale=locale)
    await app.discord.wait_for(lambda: ix.callback is not None)
    assert ix.callback is not None and ix.callback.ephemeral and ix.original is not None
    return ix.original


async def _add_finished_jobs(app: App, user_id: int, count: int) -> None:
    """``count`` jobs straight into the store; the oldest failed with a bot's own reason."""
    for n in range(count):
        job = await app.store.reserve(
            user_id=user_id, guild_id=app.discord.guild.id, channel_id=2,
            prompt=f"第 {n} 个", options=OPTIONS, image_url=None, protocol="videos", cost=1,
            daily_limit=100, max_running=100,
        )  # fmt: skip
        if n == 0:
            await app.store.settle(job.id, "failed", error=RESTART_REASON)
        else:
            await app.store.settle(job.id, "completed", result_url=f"https://cdn.example/{n}")


async def test_a_chinese_manager_reads_admin_answers_and_history_in_chinese(
    tmp_path: Path,
) -> None:
    scenario = Scenario(api_key=KEY, steps=2, step_delay=0.02)
    async with running_app(tmp_path, "videos", scenario) as app:
        fake = app.discord
        fake.guild.locale = "zh-CN"
        manager = fake.owner  # Manage Server; not one of the bot's owners

        synced = fake.commands.registered(None) + fake.commands.registered(fake.guild.id)
        group = next(c for c in synced if c["name"] == "video-admin")
        assert group["name_localizations"]["zh-CN"] == "视频管理"
        history = next(c for c in synced if c["name"] == "history")
        assert history["name_localizations"]["zh-CN"] == "历史"

        assert "✅" in await app.finished(await video(app, user=manager))

        # stats defers (the chart takes a moment), then follows up in the manager's language.
        ix = await fake.slash("video-admin stats", {}, user=manager, locale="zh-CN")
        text = await answer(app, ix)
        assert ix.callback is not None and ix.callback.type == DEFERRED
        assert text.startswith("📊 **本服务器的视频统计**（按 UTC 日计）"), text
        assert "**今日：** 1 个任务 · 完成 1，失败 0，取消 0，进行中 0 · 成功率 100%" in text
        assert f"<@{manager.id}> 1 个任务（1 点额度）" in text
        assert "Today" not in text and "jobs" not in text
        (chart,) = ix.followups[0].attachments
        assert chart.filename == "spend-30-days.png" and chart.data.startswith(b"\x89PNG")

        refused = await fake.slash(
            "video-admin stats", {"all_servers": True}, user=manager, locale="zh-CN"
        )
        assert await answer(app, refused) == "只有机器人所有者可以查看所有服务器的统计。"
        limit = await fake.slash(
            "video-admin server-limit", {"credits": 2}, user=manager, locale="zh-CN"
        )
        assert (await answer(app, limit)).startswith("服务器默认值已设置：成员每天可用 2 点额度")

        # /history: title, statuses, links, the bot's own failure reason and buttons in Chinese.
        await _add_finished_jobs(app, manager.id, PAGE_SIZE)
        page = await _history(app, "zh-CN", manager)
        embed = page.embeds[0]
        assert embed["title"] == "🎞️ 你最近的视频"
        described = embed["description"]
        assert "✅ 已完成" in described and "[打开视频](https://cdn.example/" in described
        assert "第 1-5 个视频，最新的在前。" in described and "Videos" not in described
        assert "❌ 失败" in described and "· 竖屏 · sora-2" in described
        assert "机器人在生成这个视频时重启了" in described and "restarted" not in described
        assert _labels(page) == ["◀ 更新", "更早 ▶"]

        older = await fake.click(
            page, f"history:page:{manager.id}:{PAGE_SIZE}", user=manager, locale="zh-CN"
        )
        await fake.wait_for(lambda: older.callback is not None)
        shown = page.embeds[0]["description"]
        assert "the leaves start to move" in shown and "第 6-6 个视频" in shown

        # The same server, a member whose Discord is in English: the private page is English.
        english = await _history(app, "en-US", manager)
        assert english.embeds[0]["title"] == "🎞️ Your recent videos"
        assert _labels(english) == ["◀ Newer", "Older ▶"]
