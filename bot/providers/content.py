"""Downloading a finished video from a provider's authenticated content endpoint.

``GET .../{id}/content`` (with the auth header) answers the mp4 bytes, or on
some resellers JSON ``{"url"}``; the bytes are streamed to a temporary file,
never held whole in memory, and never past a size cap.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from bot.providers.base import Completed, Event, Failed
from bot.providers.errors import GenerationFailed, ProviderError, ProviderProtocolError
from bot.providers.http import ProviderHTTP
from bot.providers.normalize import find_video_url

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 512 * 1024 * 1024  # a 12 s 1792x1024 clip is far below; protects memory
_CHUNK = 1 << 16


async def fetch_content(
    http: ProviderHTTP,
    path: str,
    job: str,
    *,
    gone: str,
    max_bytes: int = MAX_VIDEO_BYTES,
    params: Mapping[str, str] | None = None,
) -> Event:
    """The finished video at ``path``: ``Completed(file=...)``, or ``Completed(url=...)``.

    ``job`` names the job in logs. Raises typed errors for the poll loop to
    judge (transient ones are asked again); a 404/410 means the short-lived
    result is gone and ends the job as failed with ``gone`` as the reason.
    """
    limit = http.settings.request_timeout
    # No total limit: a big file on a slow link is fine as long as bytes keep coming.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
    try:
        async with http.open("GET", path, params=params, timeout=timeout) as resp:
            if resp.content_type == "application/json" or resp.content_type.endswith("+json"):
                return _url_answer(http, path, await resp.text(errors="replace"))
            if resp.content_type.startswith("text/"):
                snippet = http.redact((await resp.text(errors="replace"))[:200])
                raise ProviderProtocolError(f"{path} answered text, not a video: {snippet!r}")
            video, size = await save_capped(resp, max_bytes)
    except ProviderError as exc:
        if exc.status in (404, 410):
            log.warning("%s: content is gone: %s", job, exc)
            return Failed(GenerationFailed(gone, status=exc.status))
        raise
    if not size:
        video.unlink(missing_ok=True)
        raise ProviderProtocolError(f"{path} answered an empty body")
    log.info("%s downloaded (%d bytes)", job, size)
    return Completed(file=video)


def _url_answer(http: ProviderHTTP, path: str, text: str) -> Event:
    """The ``Completed(url=...)`` of a JSON content answer (some resellers link the file)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ProviderProtocolError(f"{path} answered bad JSON") from None
    url = find_video_url(data)
    if url is None:
        snippet = http.redact(text[:200])
        raise ProviderProtocolError(f"{path} answered JSON without a video URL: {snippet}")
    return Completed(url=url)


async def save_capped(resp: aiohttp.ClientResponse, cap: int) -> tuple[Path, int]:
    """Stream the body to a temporary file; returns it and its size. Over ``cap``: an error."""
    cap_text = f"{cap // (1024 * 1024)} MiB" if cap >= 1024 * 1024 else f"{cap} bytes"
    too_big = GenerationFailed(f"the video is larger than {cap_text}, the most the bot accepts")
    if resp.content_length is not None and resp.content_length > cap:
        raise too_big
    fd, name = tempfile.mkstemp(prefix="sora-video-", suffix=".mp4")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise too_big
                out.write(chunk)
    except BaseException:
        os.remove(name)  # a partial download is never left behind
        raise
    return Path(name), size
