"""One video's pipeline, shared by the bot's jobs and ``sora-bot generate``.

Prepare the image (from a URL or from bytes), follow the provider's events
while showing progress, and fetch the finished video to a file. A fix here
reaches both the bot and the command line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Protocol

import aiohttp

from bot.config import ProviderSettings
from bot.errors import UserError
from bot.i18n import msg
from bot.media.download import DownloadError, TooLarge, download_to_file, is_http_url
from bot.media.images import ImageError, prepare_image_async
from bot.providers.base import (
    Completed,
    Event,
    Failed,
    ModelSpec,
    Orientation,
    PreparedImage,
    Progress,
    Queued,
    Submitted,
)
from bot.ui.progress import ProgressState


class StreamEnded(UserError):
    """The provider's events ended without the job ending (a provider bug or a cut)."""

    def __init__(self) -> None:
        super().__init__(msg("The video service stopped answering."))


class Watcher(Protocol):
    """Who follows a job: told its provider task id, and each progress state to show."""

    async def submitted(self, task_id: str, provider: str | None = None) -> None:
        """The provider accepted the job under ``task_id`` (record it before going on).

        ``provider`` names which configured provider it was, when there are several.
        """
        ...

    def show(self, state: ProgressState) -> None:
        """Show ``state`` (called often; coalesce as needed)."""
        ...


async def download_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    trusted_origins: Sequence[str] = (),
) -> bytes:
    """The member's image behind ``url``, bounded; raises :class:`UserError` when unusable.

    ``trusted_origins`` may be fetched whatever their address (``DISCORD_API_BASE_URL``
    when set); every other host must be public. The bytes are sniffed by :func:`prepare`.
    """
    if not is_http_url(url):
        raise UserError(msg("The image link is not valid."))
    with tempfile.TemporaryDirectory(prefix="sora-img-") as tmp:
        path = Path(tmp) / "input"
        try:
            await download_to_file(
                session,
                url,
                path,
                max_bytes=max_bytes,
                timeout=60,
                trusted_origins=trusted_origins,
                expect="any",
            )
        except DownloadError as exc:
            raise UserError(
                msg("The bot could not download your image: {error}.", error=str(exc))
            ) from None
        return await asyncio.to_thread(path.read_bytes)


async def prepare(
    raw: bytes,
    spec: ModelSpec,
    orientation: Orientation,
    hd: bool,
    media: ProviderSettings,
    *,
    source_url: str | None = None,
) -> PreparedImage:
    """Fit ``raw`` to the video's exact size, off the event loop; :class:`UserError` if not."""
    try:
        return await prepare_image_async(
            raw,
            spec.size(orientation, hd),
            fit=media.image_fit,
            max_bytes=media.image_max_bytes,
            max_pixels=media.image_max_pixels,
            source_url=source_url,
        )
    except ImageError as exc:
        raise UserError(exc.message) from None


async def follow(events: AsyncIterator[Event], watcher: Watcher) -> Completed | Failed:
    """Follow a job's events to its end; raises :class:`StreamEnded` when there is none."""
    percent: float | None = None
    async for event in events:
        if isinstance(event, Submitted):
            await watcher.submitted(event.task_id, event.provider)
        elif isinstance(event, Queued):
            watcher.show(ProgressState("queued", status=event.status, position=event.position))
        elif isinstance(event, Progress):
            if event.percent is not None:
                percent = event.percent
            watcher.show(ProgressState("generating", percent, event.status))
        elif isinstance(event, Completed | Failed):
            return event
    raise StreamEnded()


async def fetch_video(
    session: aiohttp.ClientSession,
    result: Completed,
    dest: Path,
    *,
    max_bytes: int,
    provider_url: str,
    keep_oversize: bool = False,
) -> bool:
    """Put the finished mp4 at ``dest``; False (and nothing written) when over ``max_bytes``.

    ``keep_oversize`` still writes a video the provider handed over itself (a file
    or bytes: there is no link to fall back on) when it is over ``max_bytes``, so
    the caller can deliver it another way; False then says it is at ``dest`` but
    over the bound.

    A link is fetched only from a public host or the provider's own origin
    (``provider_url``), and only when it answers a video.

    Raises :class:`~bot.media.download.DownloadError` when the link cannot be
    fetched (:class:`~bot.media.download.LinkExpired` when it has expired). The
    file is written as ``<dest>.part`` and renamed when whole: no failure or
    interruption leaves a partial file behind, and an existing ``dest`` is only
    replaced by a complete video.
    """
    source = result.file
    if source is not None:  # downloaded by the provider: move it, never copy it
        try:
            fits = source.stat().st_size <= max_bytes
            if fits or keep_oversize:
                await _replace(dest, lambda part: shutil.move(source, part))
            return fits
        finally:
            source.unlink(missing_ok=True)
    if result.content is not None:
        content = result.content
        fits = len(content) <= max_bytes
        if fits or keep_oversize:
            await _replace(dest, lambda part: part.write_bytes(content))
        return fits
    assert result.url is not None
    try:
        await download_to_file(
            session, result.url, dest, max_bytes=max_bytes, trusted_origins=[provider_url]
        )
    except TooLarge:
        return False
    return True


async def _replace(dest: Path, write: Callable[[Path], object]) -> None:
    """Write through ``<dest>.part`` (by ``write(part)`` in a thread), then rename over ``dest``."""
    part = dest.with_name(dest.name + ".part")
    try:
        await asyncio.to_thread(write, part)
        await asyncio.to_thread(os.replace, part, dest)
    finally:
        part.unlink(missing_ok=True)
