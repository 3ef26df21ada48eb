"""Helpers for the fake provider's own tests: request bodies, forms and a raw call.

Imported by name (``from fake_support import ...``): pytest puts this directory
on ``sys.path`` for the test modules in it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import aiohttp
from PIL import Image

KEY = "fake-key-123456"
GEN = "/v2/videos/generations"
VID = "/v1/videos"


def png(width: int, height: int) -> bytes:
    """An encoded PNG of exactly ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(width: int, height: int) -> str:
    """A PNG as a base64 ``data:`` URL."""
    return "data:image/png;base64," + base64.b64encode(png(width, height)).decode()


def gen_body(**kw: Any) -> dict[str, Any]:
    """A valid generations submit body (portrait, sora-2, 10 s)."""
    body: dict[str, Any] = {"prompt": "p", "model": "sora-2", "images": [data_url(720, 1280)]}
    return {**body, "aspect_ratio": "9:16", "duration": "10", "hd": False, **kw}


def vid_form(
    size: str = "720x1280", image: tuple[int, int] | None = (720, 1280), **kw: str
) -> aiohttp.FormData:
    """A videos create form."""
    form = aiohttp.FormData()
    for name, value in {
        "prompt": "p",
        "model": "sora-2",
        "seconds": "4",
        "size": size,
        **kw,
    }.items():
        form.add_field(name, value)
    if image is not None:
        form.add_field("input_reference", png(*image), filename="in.png", content_type="image/png")
    return form


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, dict[str, str]]:
    """Status, decoded JSON (or raw bytes) and headers of one request."""
    async with session.request(method, url, **kw) as resp:
        body: Any = await resp.read()
        if resp.content_type == "application/json":
            body = await resp.json()
        return resp.status, body, dict(resp.headers)
