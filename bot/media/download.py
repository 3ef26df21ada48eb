"""Fetching media from links someone else chose: streamed to disk, bounded, and guarded.

The result link comes from the provider, the image link from Discord; the body
is then posted publicly. So every download:

- reaches only public addresses (:mod:`bot.media.netguard`), checked on the
  address actually connected to and again on every redirect, which are followed
  here (at most :data:`MAX_REDIRECTS`) rather than by aiohttp; the only
  exception is the ``trusted_origins`` the caller names (the provider's own
  origin: operators run local gateways, tests run everything on 127.0.0.1);
- is bounded in size, and for videos must start like one (an ISO-BMFF ``ftyp``
  box, as in mp4/mov, or WebM's EBML magic) before a byte is kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from bot.media.netguard import GuardedResolver, check_literal, origin_of, origins

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_REDIRECTS = 5
HEAD_BYTES = 12  # enough for both video signatures below
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_EBML = b"\x1a\x45\xdf\xa3"  # WebM / Matroska

Expect = Literal["video", "any"]


class DownloadError(Exception):
    """The file could not be fetched; the message is safe to show."""


class LinkExpired(DownloadError):
    """The host refused the link (expired, deleted or not public): retrying will not help."""


class TooLarge(DownloadError):
    """The file is larger than allowed; the link itself still works."""


class UnsafeURL(DownloadError):
    """The link (or a redirect) leads to an internal address; nothing was fetched from it."""


class NotAVideo(DownloadError):
    """The link answered something that is not an mp4, mov or webm video; nothing was kept."""


def is_http_url(url: str) -> bool:
    """Only http(s) URLs with a host are ever fetched or shown as links."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def looks_like_video(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an mp4/mov/m4v or a webm/mkv."""
    return head[4:8] == b"ftyp" or head.startswith(_EBML)


async def download_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float = 300.0,
    trusted_origins: Iterable[str] = (),
    expect: Expect = "video",
) -> int:
    """Stream ``url`` into ``dest``; returns the size. Removes a partial file on failure.

    ``trusted_origins`` are URLs (a base URL with a path is fine) whose scheme, host
    and port may be fetched whatever their address: pass the provider's base URL for
    result videos, and ``DISCORD_API_BASE_URL`` (when set) for attachments. Every
    other host must resolve to public addresses only. ``expect="video"`` refuses a
    body that does not start like a video; ``"any"`` leaves the check to the caller
    (images are sniffed by :mod:`bot.media.images`).

    ``session`` lends only its default headers: the address check must sit in the
    connector, so each download opens its own short-lived one.

    Raises :class:`LinkExpired` (not http(s), 401/403/404/410), :class:`TooLarge`,
    :class:`UnsafeURL`, :class:`NotAVideo`, or :class:`DownloadError` (other
    HTTP errors, too many redirects, network failures); every message is safe to show.
    """
    if not is_http_url(url):
        raise LinkExpired("the video link is not an http(s) URL")
    trusted = origins(trusted_origins)
    resolver = GuardedResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    tmp = dest.with_name(dest.name + ".part")
    try:
        async with aiohttp.ClientSession(
            connector=connector,
            headers=session.headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            trust_env=False,  # a proxy would resolve names itself, out of the guard's sight
        ) as guarded:
            size = await _fetch(guarded, resolver, URL(url), tmp, trusted, max_bytes, expect)
    except (aiohttp.ClientError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        if resolver.refused is not None:
            raise UnsafeURL(resolver.refused) from None
        raise DownloadError(f"the file could not be downloaded ({type(exc).__name__})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return size


async def _fetch(
    session: aiohttp.ClientSession,
    resolver: GuardedResolver,
    url: URL,
    tmp: Path,
    trusted: frozenset[tuple[str, str, int]],
    max_bytes: int,
    expect: Expect,
) -> int:
    """Follow redirects by hand, checking each hop, then stream the final body to ``tmp``."""
    for _ in range(MAX_REDIRECTS + 1):
        _allow(resolver, url, trusted)
        async with session.get(url, allow_redirects=False) as resp:
            location = resp.headers.get("Location")
            if resp.status in _REDIRECTS and location:
                try:
                    url = resp.url.join(URL(location))
                except ValueError:
                    raise DownloadError("the link redirected to an invalid address") from None
                if not is_http_url(str(url)):
                    raise UnsafeURL("the link redirected to something that is not http(s)")
                continue
            return await _save(resp, tmp, max_bytes, expect)
    raise DownloadError(f"the link redirected more than {MAX_REDIRECTS} times")


def _allow(resolver: GuardedResolver, url: URL, trusted: frozenset[tuple[str, str, int]]) -> None:
    """Judge one hop before it is requested; tell the resolver whether it is trusted."""
    origin = origin_of(url)
    if origin is None:
        raise UnsafeURL("the link is not a valid http(s) address")
    if origin in trusted:
        resolver.trusted_host = (origin[1], origin[2])
        return
    resolver.trusted_host = None
    reason = check_literal(origin[1])
    if reason is not None:
        log.warning("download refused: %s", reason)
        raise UnsafeURL(reason)


async def _save(resp: aiohttp.ClientResponse, tmp: Path, max_bytes: int, expect: Expect) -> int:
    if resp.status in (401, 403, 404, 410):
        raise LinkExpired(f"the link has expired or is not accessible (HTTP {resp.status})")
    if resp.status >= 400:
        raise DownloadError(f"the host answered HTTP {resp.status}")
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise TooLarge(f"the file is too large ({resp.content_length} bytes)")
    size = 0
    head = b""
    checked = expect == "any"
    with tmp.open("wb") as out:
        async for chunk in resp.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"the file is larger than {max_bytes} bytes")
            if checked:
                out.write(chunk)
                continue
            head += chunk  # only until the signature is known: a few bytes
            if len(head) >= HEAD_BYTES:
                _check_video(head)
                out.write(head)
                checked, head = True, b""
        if not checked:  # shorter than a signature
            _check_video(head)
    return size


def _check_video(head: bytes) -> None:
    if not looks_like_video(head):
        log.warning("download refused: the body is not a video (%d bytes seen)", len(head))
        raise NotAVideo("the link did not lead to a video file")
