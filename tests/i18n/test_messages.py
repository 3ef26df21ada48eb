"""Messages built far from the reader (provider errors, unsupported options, image
refusals, admin answers) keep their English and read in the reader's language."""

from __future__ import annotations

import pytest

from bot.db.guild_models import PeriodStats, Spend, Stats
from bot.errors import UserError, user_message
from bot.jobs.checks import check_options
from bot.media.images import ImageError, prepare_image
from bot.providers.base import Capabilities, ModelSpec
from bot.providers.errors import BadRequest, ContentRejected, GenerationFailed, ProviderTimeout
from bot.ui import admin_text

SIZES = {"portrait": (72, 128)}
CAPS = Capabilities(
    models=(
        ModelSpec("sora-2", (10, 15), SIZES),
        ModelSpec("sora-2-pro", (10, 15, 25), SIZES, hd=True, hd_durations=(10,)),
    ),
    resumable=True,
)


def test_provider_reasons_are_kept_inside_translated_sentences() -> None:
    refused = BadRequest("size must be 720x1280 {not a placeholder}")
    assert refused.user_message == (
        "The video service refused the request: size must be 720x1280 {not a placeholder}"
    )
    assert refused.localized("es") == (
        "El servicio de vídeo rechazó la solicitud: size must be 720x1280 {not a placeholder}"
    )
    assert ContentRejected("nsfw").localized("zh_CN") == "视频服务拒绝了这些内容：nsfw"
    assert GenerationFailed("timed out").localized("pt_BR") == (
        "Não foi possível fazer o vídeo: timed out"
    )
    assert user_message(ProviderTimeout("x"), "zh_CN") == "视频生成时间过长，已放弃。"
    assert (
        user_message(ProviderTimeout("x")) == "The video took too long to make and was abandoned."
    )


@pytest.mark.parametrize(
    ("options", "english", "chinese"),
    [
        (
            {"model": "veo"},
            "Model 'veo' is not available here; choose one of: sora-2, sora-2-pro.",
            "这里没有模型 'veo'；请从以下选择：sora-2, sora-2-pro。",
        ),
        (
            {"orientation": "landscape"},
            "sora-2 cannot make landscape videos.",
            "sora-2 不能制作横屏视频。",
        ),
        (
            {"duration": 25},
            "sora-2 cannot make 25s videos; choose one of: 10s, 15s.",
            "sora-2 不能制作 25 秒的视频；请从以下选择：10s, 15s。",
        ),
        ({"hd": True}, "HD is not available on sora-2.", "sora-2 不支持高清。"),
        (
            {"model": "sora-2-pro", "duration": 15, "hd": True},
            "HD is not available for 15s videos on sora-2-pro.",
            "sora-2-pro 的 15 秒视频不支持高清。",
        ),
    ],
)
def test_unsupported_options_read_in_the_members_language(
    options: dict[str, object], english: str, chinese: str
) -> None:
    chosen = {"model": None, "duration": None, "orientation": "portrait", "hd": False} | options
    with pytest.raises(UserError) as refused:
        check_options(CAPS, **chosen)  # type: ignore[arg-type]
    assert str(refused.value) == english
    assert refused.value.localized("zh_CN") == chinese


def test_image_refusals_carry_their_numbers_into_each_language() -> None:
    with pytest.raises(ImageError) as refused:
        prepare_image(b"\x89PNG\r\n\x1a\n" + b"0" * 3 * 1024 * 1024, (72, 128), max_bytes=1 << 20)
    assert str(refused.value) == "That image is too large (3.1 MB); the limit is 1 MB."
    assert UserError(refused.value.message).localized("es") == (
        "Esa imagen es demasiado grande (3.1 MB); el límite es 1 MB."
    )
    with pytest.raises(ImageError) as unreadable:
        prepare_image(b"not an image at all", (72, 128))
    assert (
        UserError(unreadable.value.message)
        .localized("pt_BR")
        .startswith("Esse arquivo não é uma imagem")
    )


def test_admin_answers_keep_their_numbers_in_every_language() -> None:
    period = PeriodStats(jobs=3, completed=2, failed=1, cancelled=0, active=0, credits=3,
                         micros=1_500_000)  # fmt: skip
    stats = Stats(today=period, month=period, busiest=(), render_avg_seconds=75.0,
                  render_count=2)  # fmt: skip
    spend = Spend(credits=2, micros=400_000)
    budgets = [("server", spend, 10, 5_000_000)]
    english = admin_text.stats_text(stats, scope="this server", currency="USD", budgets=budgets)
    assert "**Today:** 3 jobs · 2 completed, 1 failed, 0 cancelled, 0 in progress" in english
    assert "**Budget today:** server 2/10 credits and 0.40 USD of 5.00 USD" in english
    assert "1m 15s over 2 videos this month" in english
    spanish = admin_text.stats_text(
        stats, scope="este servidor", currency="USD", budgets=budgets, locale="es"
    )
    assert spanish.startswith("📊 **Estadísticas de vídeo de este servidor** (días UTC)")
    assert "**Hoy:** 3 trabajos · 2 terminados, 1 fallidos" in spanish
    assert "success 67%" not in spanish and "éxito 67%" in spanish
    assert "servidor 2/10 créditos y 0.40 USD de 5.00 USD" in spanish
    assert (
        admin_text.extra_ceiling_text(7, 3, 5)
        .render("zh_CN")
        .startswith("机器人运营者规定每位成员在一个服务器中最多有 5 点额外额度")
    )
    assert "(`SERVER_MAX_DAILY_LIMIT`)" in admin_text.limit_ceiling_text(2).render("pt_BR")
    assert "2 créditos" in admin_text.limit_ceiling_text(2).render("pt_BR")
