"""A `/video` from a member who reads Chinese, through the fake Discord and a fake provider.

Ephemeral refusals follow the member's ``locale``; the job's public messages
and buttons follow the server's ``guild_locale``; the synced command carries
its ``name_localizations`` and ``description_localizations``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, photo_bytes, running_app


def _labels(components: list[dict[str, Any]]) -> list[str]:
    return [item["label"] for row in components for item in row.get("components", [])]


async def test_a_chinese_member_in_a_chinese_server_reads_chinese(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.08)
    async with running_app(tmp_path, "videos", scenario) as app:
        fake = app.discord
        fake.guild.locale = "zh-CN"

        # The command as synced: Chinese names and descriptions next to the English ones.
        synced = [
            c for c in fake.commands.registered(None) + fake.commands.registered(fake.guild.id)
        ]
        video = next(c for c in synced if c["name"] == "video")
        assert video["name_localizations"]["zh-CN"] == "视频"
        assert video["description_localizations"]["zh-CN"] == "把一张图片和一段提示词变成短视频"
        assert video["description_localizations"]["es-ES"].startswith("Convierte una imagen")
        prompt = next(o for o in video["options"] if o["name"] == "prompt")
        assert prompt["name_localizations"]["zh-CN"] == "提示词"
        assert prompt["name_localizations"]["pt-BR"] == "texto"
        duration = next(o for o in video["options"] if o["name"] == "duration")
        four = next(c for c in duration["choices"] if c["value"] == 4)
        assert four["name"] == "4 seconds" and four["name_localizations"]["zh-CN"] == "4 秒"

        # A refusal is private, in the member's language, and charges nothing.
        notes = fake.upload(b"just some text\n", "notes.txt", "text/plain")
        refused = await fake.slash(
            "video", {"image": notes, "prompt": "一只狐狸在跑"}, locale="zh-CN"
        )
        text = await app.refusal(refused)
        assert text.startswith("`notes.txt` 不是机器人能使用的图片"), text

        # The job's public message is in the server's language, progress and buttons included.
        photo = fake.upload(photo_bytes(), "photo.jpg")
        ix = await fake.slash("video", {"image": photo, "prompt": "一只狐狸在跑"}, locale="zh-CN")
        content = await app.finished(ix)
        assert f"**<@{fake.user.id}> 的视频**" in content
        assert "✅ 已完成，用时" in content and "秒" in content
        progress = [e for e in ix.edits if "█" in e.content or "░" in e.content]
        assert progress, [e.content for e in ix.edits]
        assert any(label in e.content for e in progress for label in ("生成中", "在视频服务排队中"))
        assert any("取消" in _labels(e.components) for e in progress)
        assert "Generating" not in "".join(e.content for e in ix.edits)
        assert "今天已用 **1** / **3** 点额度" in await _quota(app, "zh-CN")


async def test_the_member_and_the_server_each_get_their_own_language(tmp_path: Path) -> None:
    async with running_app(tmp_path, "videos") as app:
        fake = app.discord  # an English server
        too_long = "x" * 5000
        photo = fake.upload(photo_bytes(), "photo.jpg")
        refused = await fake.slash(
            "video", {"image": photo, "prompt": too_long}, locale="pt-BR", validate=False
        )
        text = await app.refusal(refused)
        assert text.startswith("Esse texto tem 5000 caracteres; o limite é"), text

        ix = await fake.slash("video", {"image": photo, "prompt": "a fox"}, locale="zh-CN")
        content = await app.finished(ix)
        assert f"**Video for <@{fake.user.id}>**" in content and "✅ Done in" in content
        assert "0** of **3" not in await _quota(app, "es-ES")
        assert "Hoy has usado **1** de **3** créditos" in await _quota(app, "es-ES")


async def _quota(app: Any, locale: str) -> str:
    ix = await app.discord.slash("quota", {}, locale=locale)
    await app.discord.wait_for(lambda: ix.callback is not None)
    assert ix.callback is not None and ix.callback.ephemeral
    return str(ix.callback.data["content"])
