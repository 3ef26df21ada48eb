"""The client side of the polling comparison, in its own process.

``python -m bench.pollers ours|openai URL N RAMP`` makes N videos on the fake
``videos`` server at ``URL`` (a job started every ``1/RAMP`` s), with either
our :class:`~bot.providers.videos.VideosProvider` (settings at their defaults)
or the reference client, the official ``openai`` package's
``client.videos.create_and_poll``. It prints one JSON line: how many ended
well and the CPU time this process used. Timings are taken by the server.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
import warnings
from typing import Any

import aiohttp
from PIL import Image

from bot.config import ProviderSettings
from bot.providers.base import Completed, Failed, PreparedImage, VideoRequest
from bot.providers.videos import VideosProvider

KEY = "sk-bench-provider-key"


def portrait_png() -> bytes:
    """The first frame, at the exact size the fake checks."""
    buf = io.BytesIO()
    Image.new("RGB", (720, 1280), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


async def ours(url: str, n: int, ramp: float) -> int:
    """N jobs with the bot's own client; returns how many completed."""
    image = PreparedImage(portrait_png(), "image/png", 720, 1280)
    settings = ProviderSettings(protocol="videos", base_url=url, api_key=KEY)
    async with aiohttp.ClientSession() as session:
        provider = VideosProvider(session, settings)

        async def one(i: int) -> bool:
            request = VideoRequest(f"bench job {i}: waves", image, 4, "portrait", "sora-2")
            async for event in provider.generate(request):
                if isinstance(event, Completed):
                    return True
                if isinstance(event, Failed):
                    return False
            return False

        return sum(await _ramped(one, n, ramp))


async def reference(url: str, n: int, ramp: float) -> int:
    """N jobs with ``openai``'s ``videos.create_and_poll``; returns how many completed."""
    from openai import AsyncOpenAI

    data = portrait_png()
    async with AsyncOpenAI(base_url=url + "/v1", api_key=KEY) as client:

        async def one(i: int) -> bool:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the Sora API sunset notice
                video = await client.videos.create_and_poll(
                    prompt=f"bench job {i}: waves",
                    model="sora-2",
                    seconds="4",
                    size="720x1280",
                    input_reference=("input.png", data, "image/png"),
                )
            return video.status == "completed"

        return sum(await _ramped(one, n, ramp))


async def _ramped(one: Any, n: int, ramp: float) -> list[bool]:
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(1 / ramp)  # the same arrival pattern as the bot runs
    return list(await asyncio.gather(*tasks))


def main() -> int:
    """Entry point: ``python -m bench.pollers CLIENT URL N RAMP``."""
    client, url, n, ramp = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    started_cpu, started = time.process_time(), time.monotonic()
    run = ours if client == "ours" else reference
    completed = asyncio.run(run(url, n, ramp))
    print(
        json.dumps(
            {
                "completed": completed,
                "cpu_seconds": time.process_time() - started_cpu,
                "wall_seconds": time.monotonic() - started,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
