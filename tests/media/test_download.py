"""Tests for bot.media.download: real aiohttp against scripted servers on 127.0.0.1.

Two servers per test: ``provider`` plays the provider's own file host (its origin is
trusted, as the bot trusts its configured provider) and ``internal`` plays an internal
endpoint such as a cloud metadata service, which must never see a single request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.media.download import (
    MAX_REDIRECTS,
    DownloadError,
    LinkExpired,
    NotAVideo,
    TooLarge,
    UnsafeURL,
    download_to_file,
)
from tests.support.loopback import MP4_HEAD, WEBM_HEAD, LoopbackServer, Route, loopback_server

SECRET = b'{"AccessKeyId": "internal-secret"}'
VIDEO = MP4_HEAD + b"\x00" * 5000


@pytest.fixture
async def internal() -> AsyncIterator[LoopbackServer]:
    """The internal endpoint: answers anything it is asked, so any request would leak."""
    async with loopback_server(
        meta=Route(SECRET, content_type="application/json"), video=Route(VIDEO)
    ) as server:
        yield server


@pytest.fixture
async def provider(internal: LoopbackServer) -> AsyncIterator[LoopbackServer]:
    """The provider's file host, including redirects towards the internal endpoint."""
    async with loopback_server(
        video=Route(VIDEO),
        webm=Route(WEBM_HEAD),
        json=Route(SECRET, content_type="application/json"),
        tiny=Route(b"\x00\x00"),
        moved=Route(status=302, location="/video"),
        to_internal=Route(status=302, location=f"{internal.url}/meta"),
        to_internal_video=Route(status=307, location=f"{internal.url}/video"),
        to_internal_name=Route(
            status=301, location=f"{internal.url.replace('127.0.0.1', 'localhost')}/meta"
        ),
        to_file=Route(status=302, location="file:///etc/passwd"),
        loop=Route(status=302, location="/loop"),
        gone=Route(status=410),
    ) as server:
        yield server


async def fetch(
    session: aiohttp.ClientSession, url: str, dest: Path, *trusted: str, **kw: object
) -> int:
    """Download ``url`` trusting only ``trusted`` (base URLs)."""
    return await download_to_file(
        session,
        url,
        dest,
        max_bytes=kw.pop("max_bytes", 1_000_000),
        trusted_origins=trusted,
        **kw,  # type: ignore[arg-type]
    )


def nothing_left(dest: Path) -> bool:
    """Neither the file nor its partial download remains."""
    return not dest.exists() and not dest.with_name(dest.name + ".part").exists()


# ---------------------------------------------------------------- the trusted origin


async def test_the_provider_origin_may_be_on_loopback(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    # A base URL with a path (and /v1) names the same origin.
    assert await fetch(session, f"{provider.url}/video", dest, f"{provider.url}/v1") == len(VIDEO)
    assert dest.read_bytes() == VIDEO


async def test_webm_is_a_video_too(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "v.webm"
    await fetch(session, f"{provider.url}/webm", dest, provider.url)
    assert dest.read_bytes() == WEBM_HEAD


async def test_redirects_within_the_trusted_origin_are_followed(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    await fetch(session, f"{provider.url}/moved", dest, provider.url)
    assert dest.read_bytes() == VIDEO
    assert provider.requests == ["/moved", "/video"]


# ---------------------------------------------------------------- internal addresses


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_direct_internal_url_is_refused_before_any_request(
    session: aiohttp.ClientSession,
    provider: LoopbackServer,
    internal: LoopbackServer,
    tmp_path: Path,
    host: str,
) -> None:
    # "localhost" is judged after name resolution, 127.0.0.1 as a literal.
    url = f"{internal.url.replace('127.0.0.1', host)}/meta"
    dest = tmp_path / "v.mp4"
    with pytest.raises(UnsafeURL, match="internal network address"):
        await fetch(session, url, dest, provider.url)
    assert internal.requests == []
    assert nothing_left(dest)


async def test_nothing_is_trusted_by_default(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    with pytest.raises(UnsafeURL):
        await fetch(session, f"{provider.url}/video", tmp_path / "v.mp4")
    assert provider.requests == []


async def test_trust_is_for_the_exact_origin_not_the_host(
    session: aiohttp.ClientSession,
    provider: LoopbackServer,
    internal: LoopbackServer,
    tmp_path: Path,
) -> None:
    # Same host, another port: another origin, so the internal server stays out of reach.
    with pytest.raises(UnsafeURL):
        await fetch(session, f"{internal.url}/video", tmp_path / "v.mp4", provider.url)
    https_origin = provider.url.replace("http://", "https://")
    with pytest.raises(UnsafeURL):
        await fetch(session, f"{provider.url}/video", tmp_path / "v.mp4", https_origin)
    assert internal.requests == [] and provider.requests == []


@pytest.mark.parametrize("path", ["/to_internal", "/to_internal_video", "/to_internal_name"])
async def test_a_redirect_to_an_internal_address_is_refused(
    session: aiohttp.ClientSession,
    provider: LoopbackServer,
    internal: LoopbackServer,
    tmp_path: Path,
    path: str,
) -> None:
    dest = tmp_path / "v.mp4"
    with pytest.raises(UnsafeURL) as refused:
        await fetch(session, f"{provider.url}{path}", dest, provider.url)
    assert internal.requests == []
    assert provider.requests == [path]
    assert nothing_left(dest)
    assert isinstance(refused.value, DownloadError)  # the job run's existing except clause


async def test_a_redirect_to_another_scheme_is_refused(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    with pytest.raises(UnsafeURL, match="not http"):
        await fetch(session, f"{provider.url}/to_file", tmp_path / "v.mp4", provider.url)


async def test_redirects_are_bounded(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match="redirected more than"):
        await fetch(session, f"{provider.url}/loop", tmp_path / "v.mp4", provider.url)
    assert len(provider.requests) == MAX_REDIRECTS + 1


# ---------------------------------------------------------------- content


@pytest.mark.parametrize("path", ["/json", "/tiny"])
async def test_a_body_that_is_not_a_video_is_refused_and_not_kept(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path, path: str
) -> None:
    dest = tmp_path / "v.mp4"
    with pytest.raises(NotAVideo) as refused:
        await fetch(session, f"{provider.url}{path}", dest, provider.url)
    assert "secret" not in str(refused.value).lower()
    assert nothing_left(dest)


async def test_any_content_when_the_caller_checks_it(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "image"
    await fetch(session, f"{provider.url}/json", dest, provider.url, expect="any")
    assert dest.read_bytes() == SECRET


async def test_size_is_still_bounded(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    with pytest.raises(TooLarge):
        await fetch(session, f"{provider.url}/video", dest, provider.url, max_bytes=len(VIDEO) - 1)
    assert nothing_left(dest)


async def test_expired_links_are_still_told_apart(
    session: aiohttp.ClientSession, provider: LoopbackServer, tmp_path: Path
) -> None:
    with pytest.raises(LinkExpired, match="410"):
        await fetch(session, f"{provider.url}/gone", tmp_path / "v.mp4", provider.url)
    with pytest.raises(LinkExpired):
        await fetch(session, "ftp://example.com/x.mp4", tmp_path / "v.mp4", provider.url)
