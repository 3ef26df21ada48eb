"""Large uploads: decoded within a memory budget, shrunk correctly, a bounded number at once.

Pillow's pixel buffers are not visible to tracemalloc (Pillow 13 allocates them
with plain malloc: a 6300x6300 decode shows up as about 1 MiB there), so peak
memory is measured as the growth of ``ru_maxrss`` in a fresh child process.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile

from bot.media import decode, images
from bot.media.images import DEFAULT_MAX_DECODE_BYTES, ImageError
from bot.providers.base import PreparedImage

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)
PORTRAIT = (720, 1280)
MIB = 1024 * 1024


def encode(img: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    """``img`` saved as ``fmt``."""
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.cache
def big_sticker() -> bytes:
    """The reported case: a 6300x6300 PNG of about 200 KiB, transparent with red shapes."""
    img = Image.new("RGBA", (6300, 6300), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    for i in range(0, 6300, 300):
        draw.ellipse((i, i, i + 900, i + 600), fill=(200, 30, 30, 255))
    return encode(img)


def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    """Whether an RGB pixel is within ``tolerance`` of ``colour`` in every channel."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def frame(prepared: PreparedImage, size: tuple[int, int]) -> Image.Image:
    """The prepared JPEG, decoded, after checking its size."""
    img = Image.open(io.BytesIO(prepared.data))
    assert img.size == size and img.format == "JPEG"
    return img.convert("RGB")


# ---------------------------------------------------------------- the budget

CHILD = """
import json, resource, sys
from bot.media import images
data = open(sys.argv[1], "rb").read()
images.prepare_image(open(sys.argv[2], "rb").read(), (720, 1280))  # warm up every code path
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
prepared = images.prepare_image(data, (720, 1280))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew": (after - before) * 1024, "size": [prepared.width, prepared.height]}))
"""


def test_the_6300_pixel_png_decodes_within_the_budget(tmp_path: Path) -> None:
    """Measured in a child process; the old pipeline peaked at about 486 MiB here."""
    data = tmp_path / "big.png"
    data.write_bytes(big_sticker())
    small = tmp_path / "small.png"
    small.write_bytes(encode(Image.new("RGBA", (64, 64))))
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(small)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(run.stdout)
    assert result["size"] == [720, 1280]
    estimate = decode.estimate_bytes("RGBA", (6300, 6300), PORTRAIT, "cover", 1)
    assert estimate <= DEFAULT_MAX_DECODE_BYTES
    # The estimate is an honest upper bound, and the peak stays inside the budget.
    assert result["grew"] <= estimate, (result["grew"] / MIB, estimate / MIB)


def test_an_image_over_the_budget_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = encode(Image.new("RGB", (2000, 2000), RED))
    decoded: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded.append)
    with pytest.raises(ImageError) as refused:
        images.prepare_image(data, PORTRAIT, max_decode_bytes=8 * MIB)
    assert decoded == []
    assert str(refused.value).startswith("That image is too big for the bot to process (2000x2000)")
    assert "megapixels" in refused.value.user_message


def test_jpeg_drafts_count_in_the_estimate() -> None:
    # Decoded whole, this 6000x4000 photo alone would take 96 MB; drafted to half, 24 MB.
    photo = encode(Image.new("RGB", (6000, 4000), BLUE), "JPEG")
    assert frame(images.prepare_image(photo, PORTRAIT, max_decode_bytes=64 * MIB), PORTRAIT)
    with pytest.raises(ImageError, match=r"\(6000x4000\)"):  # the member's size, not the draft's
        images.prepare_image(photo, PORTRAIT, max_decode_bytes=32 * MIB)


# ---------------------------------------------------------------- the shrunk path


def test_transparency_is_flattened_band_by_band() -> None:
    img = Image.new("RGBA", (4000, 2000), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 2000, 2000))  # left half opaque red, right transparent
    out = frame(images.prepare_image(encode(img), (400, 200), fit="letterbox"), (400, 200))
    assert near(out.getpixel((100, 100)), RED)
    assert near(out.getpixel((300, 100)), WHITE)  # not black: no straight-alpha averaging
    assert near(out.getpixel((190, 100)), RED) and near(out.getpixel((210, 100)), WHITE)


@pytest.mark.parametrize("mode", ["P", "L", "CMYK", "I;16"])
def test_every_mode_shrinks(mode: str) -> None:
    img = Image.new("RGB", (3000, 3000), BLUE)
    img.paste(RED, (0, 0, 1500, 1500))
    if mode == "I;16":
        img = img.convert("L").convert("I").point(lambda v: v * 256).convert("I;16")
    else:
        img = img.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = frame(images.prepare_image(encode(img, fmt), (100, 100)), (100, 100))
    top_left, bottom_right = out.getpixel((20, 20)), out.getpixel((80, 80))
    assert top_left != bottom_right  # the corner survived, where the fit puts it
    if mode in ("P", "CMYK"):
        assert near(top_left, RED) and near(bottom_right, BLUE)


def test_orientation_is_applied_to_the_shrunk_copy() -> None:
    """A big PNG with EXIF orientation 6 comes out like the same picture small."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6

    def marked(size: tuple[int, int]) -> bytes:
        img = Image.new("RGB", size, BLUE)
        img.paste(RED, (0, 0, size[0] // 2, size[1] // 2))
        return encode(img, exif=exif.tobytes())

    big = frame(images.prepare_image(marked((4000, 2000)), (50, 100)), (50, 100))
    small = frame(images.prepare_image(marked((200, 100)), (50, 100)), (50, 100))
    for point in [(10, 10), (40, 10), (10, 90), (40, 90)]:
        assert near(big.getpixel(point), small.getpixel(point), tolerance=60)
    assert near(big.getpixel((40, 10)), RED)  # turned clockwise: top-right


def test_a_panorama_is_cut_before_anything_else() -> None:
    img = Image.new("RGB", (12000, 1000), BLUE)
    img.paste(RED, (5500, 0, 6500, 1000))  # the middle, which the cover fit keeps
    out = frame(images.prepare_image(encode(img), (100, 100)), (100, 100))
    assert near(out.getpixel((50, 50)), RED)
    assert decode.estimate_bytes("RGB", (12000, 1000), (100, 100), "cover", 1) < 60 * MIB


# ---------------------------------------------------------------- concurrency


class CountingSlots(asyncio.Semaphore):
    """A semaphore that also counts the callers waiting for it."""

    waiting = 0

    async def acquire(self) -> bool:
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1


async def test_concurrent_decodes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    lock = threading.Condition()
    state = {"active": 0, "most": 0, "released": False}
    two_in = asyncio.Event()

    def decoding(*args: Any, **kwargs: Any) -> str:
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
            if state["active"] == 2:
                loop.call_soon_threadsafe(two_in.set)
            # Unbounded, a third decode would arrive here: that alone frees everyone.
            lock.wait_for(lambda: state["released"] or state["active"] > 2, timeout=10)
            state["active"] -= 1
        return "done"

    monkeypatch.setattr(images, "prepare_image", decoding)
    slots = CountingSlots(2)
    tasks = [
        asyncio.create_task(images.prepare_image_async(b"", PORTRAIT, slots=slots))
        for _ in range(5)
    ]
    async with asyncio.timeout(10):
        await two_in.wait()
        while slots.waiting < 3 and state["most"] <= 2:  # noqa: ASYNC110 - waits on a count
            await asyncio.sleep(0)
    assert slots.waiting == 3 and state["most"] == 2
    with lock:
        state["released"] = True
        lock.notify_all()
    assert await asyncio.gather(*tasks) == ["done"] * 5
    assert state["most"] == 2


async def test_the_shared_limit_is_one_per_loop() -> None:
    slots = images.decode_slots()
    assert slots is images.decode_slots()
    assert not slots.locked()
    async with slots, slots:  # DECODE_CONCURRENCY is 2
        assert slots.locked()


async def test_a_cancelled_caller_keeps_the_slot_until_its_decode_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    entered, release = asyncio.Event(), threading.Event()

    def decoding(*args: Any, **kwargs: Any) -> str:
        loop.call_soon_threadsafe(entered.set)
        assert release.wait(timeout=10)
        return "done"

    monkeypatch.setattr(images, "prepare_image", decoding)
    slots = asyncio.Semaphore(1)
    task = asyncio.create_task(images.prepare_image_async(b"", PORTRAIT, slots=slots))
    async with asyncio.timeout(10):
        await entered.wait()
    task.cancel()
    await asyncio.sleep(0)  # let the cancellation reach the task before checking the slot
    assert slots.locked() and not task.done()  # the thread still decodes: still counted
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not slots.locked()
