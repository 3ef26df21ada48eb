"""Cheap checks done before a job is accepted: no download, no provider call, no cost."""

from __future__ import annotations

from bot.errors import UserError
from bot.i18n import msg
from bot.providers.base import Capabilities, ModelSpec, Orientation
from bot.providers.errors import UnsupportedOption

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_attachment(
    *,
    filename: str,
    content_type: str | None,
    size: int,
    width: int | None,
    height: int | None,
    max_bytes: int,
) -> None:
    """Refuse what is clearly not a usable image, from what Discord tells us about it."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES or not width or not height:
        raise UserError(
            msg(
                "`{filename}` is not an image the bot can use. "
                "Please attach a PNG, JPEG, WebP or GIF picture.",
                filename=filename[:80],
            )
        )
    if size > max_bytes:
        raise UserError(
            msg(
                "That image is too large ({size}); the limit is {limit}.",
                size=_megabytes(size),
                limit=_megabytes(max_bytes),
            )
        )


def check_prompt(prompt: str, max_length: int) -> str:
    """The prompt, stripped; refuses empty and overlong prompts."""
    text = prompt.strip()
    if not text:
        raise UserError(msg("Please describe what should happen in the video."))
    if len(text) > max_length:
        raise UserError(
            msg(
                "That prompt is {length} characters long; the limit is {limit}. Please shorten it.",
                length=len(text),
                limit=max_length,
            )
        )
    return text


def check_options(
    capabilities: Capabilities,
    *,
    model: str | None,
    duration: int | None,
    orientation: Orientation,
    hd: bool,
) -> tuple[ModelSpec, int]:
    """The model spec and duration to use; refuses combinations the provider lacks."""
    try:
        return capabilities.validate(model=model, duration=duration, orientation=orientation, hd=hd)
    except UnsupportedOption as exc:
        raise UserError(exc.message) from None
