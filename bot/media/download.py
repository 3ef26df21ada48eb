"""Fetching result videos: streamed to disk, never held twice in memory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


class DownloadError(Exception):
    """The video could not be fetched; the message is safe to show."""


class LinkExpired(DownloadError):
    """The host refused the link (expired, deleted or not public): retrying will not help."""


class TooLarge(DownloadError):
    """The file is larger than allowed; the link itself still works."""


def is_http_url(url: str) -> bool:
    """Only http(s) URLs with a host are ever fetched or shown as links."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


async def download_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float = 300.0,
) -> int:
    """Stream ``url`` into ``dest``; returns the size. Removes a partial file on failure.

    Raises :class:`DownloadError` when the URL is not http(s), answers an error
    (expired links answer 403/404), or is larger than ``max_bytes``.
    """
    if not is_http_url(url):
        raise LinkExpired("the video link is not an http(s) URL")
    tmp = dest.with_name(dest.name + ".part")
    size = 0
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status in (401, 403, 404, 410):
                raise LinkExpired(
                    f"the video link has expired or is not accessible (HTTP {resp.status})"
                )
            if resp.status >= 400:
                raise DownloadError(f"the video host answered HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise TooLarge(f"the video is too large ({resp.content_length} bytes)")
            with tmp.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"the video is larger than {max_bytes} bytes")
                    out.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"the video could not be downloaded ({type(exc).__name__})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return size
