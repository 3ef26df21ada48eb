"""Downloading a finished OpenRouter video from its authenticated content endpoint.

``GET /api/v1/videos/{id}/content?index=0`` with the auth header answers the
mp4 bytes; they are streamed to a temporary file, never held whole in memory.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bot.providers.base import Completed, Event, Failed
from bot.providers.errors import GenerationFailed, ProviderError, ProviderProtocolError
from bot.providers.http import ProviderHTTP
from bot.providers.normalize import find_video_url

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16


async def fetch_content(
    http: ProviderHTTP, path: str, job_id: str, *, max_bytes: int = MAX_VIDEO_BYTES
) -> Event:
    """The finished video at ``path`` (``?index=0``), saved to a file: ``Completed(file=...)``.

    Raises typed errors for the poll loop to judge (transient ones are asked
    again); a 404/410 means the result is gone and ends the job as failed.
    """
    limit = http.settings.request_timeout
    # No total limit: a big file on a slow link is fine as long as bytes keep coming.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
    try:
        async with http.open("GET", path, params={"index": "0"}, timeout=timeout) as resp:
            if resp.content_type == "application/json":
                url = find_video_url(_json_or_none(await resp.text(errors="replace")))
                if url is None:
                    raise ProviderProtocolError(f"{path} answered JSON without a video URL")
                return Completed(url=url)
            if resp.content_type.startswith("text/"):
                raise ProviderProtocolError(f"{path} answered text, not a video")
            video, size = await save_capped(resp, max_bytes)
    except ProviderError as exc:
        if exc.status in (404, 410):
            log.warning("openrouter job %s: content is gone: %s", job_id, exc)
            return Failed(GenerationFailed("the finished video is no longer available"))
        raise
    if not size:
        video.unlink(missing_ok=True)
        raise ProviderProtocolError(f"{path} answered an empty body")
    log.info("openrouter job %s downloaded (%d bytes)", job_id, size)
    return Completed(file=video)


async def save_capped(resp: aiohttp.ClientResponse, cap: int) -> tuple[Path, int]:
    """Stream the body to a temporary file; returns it and its size. Over ``cap``: an error."""
    too_big = GenerationFailed(f"the video is larger than {cap // (1024 * 1024)} MiB")
    if resp.content_length is not None and resp.content_length > cap:
        raise too_big
    fd, name = tempfile.mkstemp(prefix="openrouter-video-", suffix=".mp4")
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


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
