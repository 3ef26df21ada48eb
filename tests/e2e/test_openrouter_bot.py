"""`/video` on openrouter: the catalogue drives the choices, the job runs end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discord import app_commands

from bot.fake_provider.scenario import Scenario
from tests.support.harness import KEY, running_app, running_world

SUBMIT = "/api/v1/videos"


def fast(**knobs: Any) -> Scenario:
    return Scenario(**{"api_key": KEY, "steps": 3, "step_delay": 0.03, **knobs})


def choices(app: Any, option: str) -> list[Any]:
    command = app.bot.tree.get_command("video")
    assert isinstance(command, app_commands.Command)
    return [c.value for c in command.get_parameter(option).choices]


def submits(app: Any) -> list[dict[str, Any]]:
    return [
        r for r in app.provider.recorder.requests if r["method"] == "POST" and r["path"] == SUBMIT
    ]


async def test_catalogue_drives_the_choices_and_a_photo_becomes_a_video(tmp_path: Path) -> None:
    async with running_app(tmp_path, "openrouter", fast(), model="google/veo-3.1") as app:
        # Image-to-video models only (not acme/text-only), the configured default first.
        assert choices(app, "model") == ["google/veo-3.1", "alibaba/wan-2.6", "acme/widescreen"]
        assert choices(app, "duration") == [4, 5, 6, 8, 10, 15]
        ix = await app.video(model="alibaba/wan-2.6", duration=10)  # a 1600x1200 photo
        content = await app.finished(ix)
        assert "✅" in content
        assert ix.original is not None and len(ix.original.attachments) == 1
        (sent,) = submits(app)
        assert sent["frame_size"] == (720, 1280)  # fitted to 9:16 at 720p
        assert sent["json"]["duration"] == 10 and sent["json"]["resolution"] == "720p"
        assert "1** of **3" in await app.quota()
        # The catalogue's price (0.06/s, the highest SKU) estimated the job: 10 s.
        (job,) = app.jobs()
        assert job["price_micros"] == 600_000


async def test_an_option_the_catalogue_does_not_offer_is_refused_for_free(tmp_path: Path) -> None:
    async with running_app(tmp_path, "openrouter", fast(), model="google/veo-3.1") as app:
        ix = await app.video(model="google/veo-3.1", duration=5)
        assert "cannot make 5s" in await app.refusal(ix)
        wide = await app.video(model="acme/widescreen", orientation="portrait")
        assert "cannot make portrait" in await app.refusal(wide)
        assert submits(app) == [] and "0** of **3" in await app.quota()


async def test_a_landscape_only_model_makes_landscape_when_no_orientation_is_chosen(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path, "openrouter", fast(), model="acme/widescreen") as app:
        assert choices(app, "orientation") == ["portrait", "landscape"]  # others do portrait
        assert "✅" in await app.finished(await app.video(model="acme/widescreen", duration=5))
        (sent,) = submits(app)
        assert sent["json"]["aspect_ratio"] == "16:9"


async def test_garbage_catalogue_falls_back_and_a_400_is_a_clear_refunded_failure(
    tmp_path: Path,
) -> None:
    scenario = fast(catalogue_body="<html>oops</html>")
    async with running_app(tmp_path, "openrouter", scenario, model="acme/widescreen") as app:
        assert any("catalogue not read" in m for m in app.logs.messages("bot.providers"))
        assert choices(app, "duration") == [8]  # the configured model's fallback
        ix = await app.video(orientation="landscape")
        content = await app.finished(ix)
        # The provider refuses 8 s for this model: a plain reason, refunded, no crash.
        assert "❌" in content and "Unsupported duration 8" in content and "refunded" in content
        assert "went wrong inside the bot" not in content
        assert "0** of **3" in await app.quota()


async def test_a_model_priced_by_nothing_is_not_offered(tmp_path: Path) -> None:
    from bot.rules.costs import PriceTable

    prices = PriceTable.parse("google/veo-3.1:0.5")  # no '*': the catalogue must price the rest
    async with running_app(
        tmp_path,
        "openrouter",
        fast(catalogue_body='{"data": []}'),
        model="google/veo-3.1",
        models=("google/veo-3.1", "vendor/unpriced"),
        price_table=prices,
    ) as app:
        assert choices(app, "model") == ["google/veo-3.1"]
        assert any("not offering vendor/unpriced" in m for m in app.logs.messages("cogs"))


async def test_openrouter_job_resumes_after_a_restart(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=10, step_delay=0.1)
    async with running_world(tmp_path, "openrouter", scenario, model="google/veo-3.1") as w:
        async with w.bot() as app:
            ix = await app.video()
            await w.discord.wait_for(lambda: w.provider.recorder.submissions == 1)
            await w.discord.wait_for(lambda: bool(app.jobs()[0]["provider_task_id"]))
        async with w.bot() as app:
            content = await app.finished(ix, timeout=30)
            assert "✅" in content
            assert w.provider.recorder.submissions == 1  # polled again, never resubmitted
            assert "1** of **3" in await app.quota()


async def test_chat_model_name_with_and_without_options(tmp_path: Path) -> None:
    scenario = fast(chat_style="aitre")
    overrides = {"model": "sora_video2", "chat_options": "model"}
    async with running_app(tmp_path, "chat", scenario, **overrides) as app:
        assert "✅" in await app.finished(await app.video())
        assert "✅" in await app.finished(await app.video(orientation="landscape", duration=15))
        sent = [r["model"] for r in app.provider.recorder.requests if "model" in r]
        assert sent == ["sora_video2", "sora_video2-landscape-15s"]
