"""Cheap checks before a job is accepted."""

import pytest

from bot.errors import UserError
from bot.jobs.checks import check_attachment, check_options, check_prompt
from bot.providers.base import Capabilities, ModelSpec

SIZES = {"portrait": (720, 1280), "landscape": (1280, 720)}
CAPS = Capabilities(
    models=(
        ModelSpec("sora-2", (10, 15), SIZES),
        ModelSpec("sora-2-pro", (10, 15, 25), SIZES, hd=True, hd_durations=(10, 15)),
    ),
    resumable=True,
)


def attachment(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        filename="cat.png",
        content_type="image/png",
        size=1000,
        width=800,
        height=600,
        max_bytes=10_000,
    )
    base.update(overrides)
    return base


def test_good_image_passes() -> None:
    check_attachment(**attachment())  # type: ignore[arg-type]
    check_attachment(**attachment(content_type="image/jpeg; charset=binary"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"content_type": "text/plain", "width": None, "height": None, "filename": "notes.txt"},
        {"content_type": None},
        {"content_type": "video/mp4"},
        {"content_type": "image/png", "width": None},  # Discord could not read it as an image
        {"content_type": "image/svg+xml"},
    ],
)
def test_non_images_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(UserError, match="not an image"):
        check_attachment(**attachment(**overrides))  # type: ignore[arg-type]


def test_too_large_refused_with_limit() -> None:
    with pytest.raises(UserError, match=r"too large .*limit"):
        check_attachment(**attachment(size=20_000))  # type: ignore[arg-type]


def test_prompt_stripped_and_bounded() -> None:
    assert check_prompt("  a cat  ", 10) == "a cat"
    with pytest.raises(UserError, match="describe"):
        check_prompt("   ", 10)
    with pytest.raises(UserError, match=r"11 characters.*limit is 10"):
        check_prompt("x" * 11, 10)


def test_options_defaults_and_refusals() -> None:
    spec, duration = check_options(
        CAPS, model=None, duration=None, orientation="portrait", hd=False
    )
    assert (spec.name, duration) == ("sora-2", 10)
    spec, duration = check_options(
        CAPS, model="sora-2-pro", duration=25, orientation="landscape", hd=False
    )
    assert (spec.name, duration) == ("sora-2-pro", 25)
    with pytest.raises(UserError, match="HD is not available on sora-2"):
        check_options(CAPS, model="sora-2", duration=10, orientation="portrait", hd=True)
    with pytest.raises(UserError, match="HD is not available for 25s"):
        check_options(CAPS, model="sora-2-pro", duration=25, orientation="portrait", hd=True)
    with pytest.raises(UserError, match="cannot make 25s"):
        check_options(CAPS, model="sora-2", duration=25, orientation="portrait", hd=False)
    with pytest.raises(UserError, match="not available here"):
        check_options(CAPS, model="veo-3", duration=None, orientation="portrait", hd=False)
