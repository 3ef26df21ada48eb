"""Tests for bot.media.images: every input image is generated here with Pillow, in memory."""

from __future__ import annotations

import asyncio
import functools
import io
import struct
import threading
import zlib
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

from bot.media import images
from bot.media.images import BACKGROUND, BAR_COLOUR, DAMAGED, NOT_AN_IMAGE, ImageError
from bot.providers.base import PreparedImage

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
PORTRAIT, LANDSCAPE, PRO_PORTRAIT = (720, 1280), (1280, 720), (1024, 1792)


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    """``img`` saved as ``fmt``."""
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def solid(size: tuple[int, int], colour: Any = RED, mode: str = "RGB") -> Image.Image:
    """A one-colour image."""
    return Image.new(mode, size, colour)


def corner_marked(size: tuple[int, int]) -> Image.Image:
    """Blue, with its top-left quadrant red: shows where a rotation moved things."""
    img = solid(size, BLUE)
    img.paste(RED, (0, 0, size[0] // 2, size[1] // 2))
    return img


@functools.cache
def photo(width: int, height: int, orientation: int = 1) -> bytes:
    """A corner-marked JPEG, cached because the large ones take a while to encode."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode(corner_marked((width, height)), "JPEG", exif=exif.tobytes())


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 1-bit pixels: a bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + (width + 7) // 8) * 8)  # never decoded
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def output(prepared: PreparedImage, size: tuple[int, int]) -> Image.Image:
    """The decoded result, after checking it is a JPEG of exactly ``size``."""
    assert prepared.mime == "image/jpeg"
    assert (prepared.width, prepared.height) == size
    img = Image.open(io.BytesIO(prepared.data))
    assert img.format == "JPEG"
    assert img.size == size
    assert img.mode == "RGB"
    return img


def near(actual: Any, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    """Whether a pixel is within ``tolerance`` of ``expected`` on every channel (JPEG is lossy)."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# ---------------------------------------------------------------- sniffing and probing


@pytest.mark.parametrize(
    ("fmt", "options", "magic"),
    [
        ("PNG", {}, b"\x89PNG"),
        ("JPEG", {}, b"\xff\xd8\xff"),
        ("WEBP", {}, b"RIFF"),
        ("GIF", {}, b"GIF87a"),
        ("GIF", {"transparency": 0}, b"GIF89a"),
    ],
)
def test_sniff_recognises_allowed_formats(fmt: str, options: dict[str, Any], magic: bytes) -> None:
    data = encode(solid((8, 8)), fmt, **options)
    assert data.startswith(magic)
    assert images.sniff(data) == fmt
    assert fmt in images.ALLOWED_FORMATS


NOT_IMAGES = {
    "empty": b"",
    "text": b"hello, this is a note saved as photo.png\n",
    "html": b"<!DOCTYPE html><html><body><img src=x></body></html>",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "short gif": b"GIF8",
    "bmp": encode(solid((8, 8)), "BMP"),
    "tiff": encode(solid((8, 8)), "TIFF"),
}


@pytest.mark.parametrize("data", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_non_images_are_refused_with_a_clear_sentence(data: bytes) -> None:
    assert images.sniff(data) is None
    with pytest.raises(ImageError) as refused:
        images.prepare_image(data, PORTRAIT)
    assert str(refused.value) == NOT_AN_IMAGE
    assert refused.value.user_message == NOT_AN_IMAGE
    with pytest.raises(ImageError, match="not an image"):
        images.probe(data)


def test_probe_reads_the_header_only() -> None:
    assert images.probe(photo(300, 200, orientation=6)) == ("JPEG", 300, 200)
    assert images.probe(encode(solid((5, 7)), "WEBP")) == ("WEBP", 5, 7)
    assert images.probe(png_header(8000, 8000)) == ("PNG", 8000, 8000)
    mpo = encode(solid((30, 20)), "MPO", save_all=True, append_images=[solid((30, 20), BLUE)])
    assert images.probe(mpo) == ("JPEG", 30, 20)  # multi-picture phone JPEGs are JPEGs


# ---------------------------------------------------------------- exact size


@pytest.mark.parametrize("target", [PORTRAIT, LANDSCAPE, PRO_PORTRAIT])
@pytest.mark.parametrize("source", [(10, 10), (4000, 3000), (5000, 200), (200, 5000), (721, 1279)])
@pytest.mark.parametrize("fit", images.FITS)
def test_output_is_exactly_the_target_size(
    target: tuple[int, int], source: tuple[int, int], fit: images.Fit
) -> None:
    prepared = images.prepare_image(photo(*source), target, fit=fit, source_url="https://cdn/x")
    output(prepared, target)
    assert prepared.source_url == "https://cdn/x"
    assert prepared.filename == "input.jpg"


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize(
    ("orientation", "red_at", "blue_at"),
    [
        (1, (120, 200), [(600, 200), (120, 1100)]),  # upright: red stays top-left
        (3, (600, 1100), [(120, 200), (600, 200)]),  # 180 degrees: bottom-right
        (6, (600, 200), [(120, 200), (600, 1100)]),  # turned clockwise: top-right
        (8, (120, 1100), [(120, 200), (600, 200)]),  # turned anticlockwise: bottom-left
    ],
)
def test_exif_orientation_is_applied(
    orientation: int, red_at: tuple[int, int], blue_at: list[tuple[int, int]]
) -> None:
    img = output(images.prepare_image(photo(400, 200, orientation), PORTRAIT), PORTRAIT)
    assert near(img.getpixel(red_at), RED)
    for point in blue_at:
        assert near(img.getpixel(point), BLUE)


@pytest.mark.parametrize(
    ("target", "fit", "decoded"),
    [
        (PORTRAIT, "cover", (2000, 1500)),
        (PORTRAIT, "letterbox", (1000, 750)),
        # Sideways, this target needs the full 3000 pixels of width: no draft allowed.
        ((1792, 1024), "cover", (4000, 3000)),
    ],
)
def test_large_jpegs_decode_reduced_but_never_below_what_the_rotated_fit_needs(
    monkeypatch: pytest.MonkeyPatch,
    target: tuple[int, int],
    fit: images.Fit,
    decoded: tuple[int, int],
) -> None:
    seen: list[tuple[int, int]] = []
    transpose = ImageOps.exif_transpose

    def spy(img: Image.Image, **kwargs: Any) -> Image.Image | None:
        seen.append(img.size)
        return transpose(img, **kwargs)

    monkeypatch.setattr(ImageOps, "exif_transpose", spy)
    img = output(images.prepare_image(photo(4000, 3000, 6), target, fit=fit), target)
    assert seen == [decoded]
    upright_w, upright_h = decoded[1], decoded[0]
    ratios = (target[0] / upright_w, target[1] / upright_h)
    assert (max(ratios) if fit == "cover" else min(ratios)) <= 1  # only ever shrinks
    if fit == "cover":
        assert near(img.getpixel((target[0] - 20, 20)), RED)  # top-right after turning


def test_broken_exif_does_not_refuse_the_picture() -> None:
    data = encode(solid((40, 20)), "JPEG", exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff\xff")
    assert near(output(images.prepare_image(data, (16, 16)), (16, 16)).getpixel((8, 8)), RED)


@pytest.mark.parametrize("with_profile", [False, True])
def test_no_metadata_reaches_the_provider(with_profile: bool) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    options: dict[str, Any] = {"exif": exif, "comment": b"home address"}
    if with_profile:
        options["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(solid((64, 32)), "JPEG", **options)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # really there
    img = output(images.prepare_image(data, PORTRAIT), PORTRAIT)
    assert not img.getexif()
    assert not {"exif", "comment", "icc_profile", "xmp"} & img.info.keys()
    assert near(img.getpixel((360, 640)), RED)


def red_blue_swapped_profile() -> bytes:
    """Pillow's sRGB profile with the red and blue primaries exchanged: a non-sRGB space."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    entries = {}
    for index in range(struct.unpack_from(">I", icc, 128)[0]):
        signature, offset, length = struct.unpack_from(">4sII", icc, 132 + 12 * index)
        entries[signature] = (132 + 12 * index, offset, length)
    (red_at, *red), (blue_at, *blue) = entries[b"rXYZ"], entries[b"bXYZ"]
    struct.pack_into(">4sII", icc, red_at, b"rXYZ", *blue)
    struct.pack_into(">4sII", icc, blue_at, b"bXYZ", *red)
    return bytes(icc)


def test_embedded_colour_profiles_are_converted_to_srgb() -> None:
    data = encode(solid((32, 32), RED), "JPEG", icc_profile=red_blue_swapped_profile())
    img = output(images.prepare_image(data, (16, 16)), (16, 16))
    assert near(img.getpixel((8, 8)), BLUE)  # stored red means blue in that colour space


def test_an_unusable_colour_profile_is_ignored() -> None:
    data = encode(solid((32, 32), GREEN), "JPEG", icc_profile=b"not a profile")
    assert near(output(images.prepare_image(data, (16, 16)), (16, 16)).getpixel((8, 8)), GREEN)


# ---------------------------------------------------------------- formats and modes


def test_transparency_is_flattened_onto_white() -> None:
    img = solid((100, 100), (*BLUE, 255), "RGBA")
    img.paste((*RED, 0), (0, 0, 50, 100))  # transparent red must not show as red
    result = output(images.prepare_image(encode(img, "PNG"), (200, 200)), (200, 200))
    assert near(result.getpixel((40, 100)), BACKGROUND)
    assert near(result.getpixel((160, 100)), BLUE)


def test_palette_transparency_is_flattened_onto_white() -> None:
    img = solid((20, 20), 1, "P")
    img.putpalette([*RED, *GREEN])
    img.paste(0, (0, 0, 10, 20))
    data = encode(img, "PNG", transparency=0)
    result = output(images.prepare_image(data, (40, 40)), (40, 40))
    assert near(result.getpixel((5, 20)), BACKGROUND)
    assert near(result.getpixel((35, 20)), GREEN)


def test_sixteen_bit_grey_transparency_is_flattened_onto_white() -> None:
    img = solid((20, 20), 40000, "I;16")
    img.paste(solid((10, 20), 1000, "I;16"), (10, 0))  # a paste of a plain int garbles I;16
    data = encode(img, "PNG", transparency=40000)
    result = output(images.prepare_image(data, (40, 40)), (40, 40))
    assert near(result.getpixel((5, 20)), BACKGROUND)
    assert near(result.getpixel((35, 20)), (4, 4, 4))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(solid((20, 20), 128, "L"), "PNG"), (128, 128, 128)),
        (encode(solid((20, 20), 1, "1"), "PNG"), (255, 255, 255)),
        (encode(solid((20, 20), (0, 255), "LA"), "PNG"), (0, 0, 0)),
        (encode(solid((20, 20), 32768, "I;16"), "PNG"), (128, 128, 128)),  # not clipped to white
        (encode(solid((20, 20), (0, 255, 255, 0), "CMYK"), "JPEG"), RED),
        (encode(solid((20, 20), GREEN).convert("P"), "PNG"), GREEN),
        (encode(solid((20, 20), BLUE), "WEBP", lossless=True), BLUE),
        (encode(solid((20, 20), GREEN), "GIF"), GREEN),
    ],
    ids=["grey", "bilevel", "grey+alpha", "16-bit", "cmyk", "palette", "webp", "gif"],
)
def test_every_mode_becomes_rgb(data: bytes, expected: tuple[int, int, int]) -> None:
    img = output(images.prepare_image(data, (16, 16)), (16, 16))
    assert near(img.getpixel((8, 8)), expected)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "MPO"])
def test_animations_use_their_first_frame(fmt: str) -> None:
    frames = [solid((24, 24), RED), solid((24, 24), GREEN), solid((24, 24), BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    img = output(images.prepare_image(data, PORTRAIT), PORTRAIT)
    assert near(img.getpixel((360, 640)), RED)


# ---------------------------------------------------------------- cover and letterbox


def striped(size: tuple[int, int]) -> bytes:
    """Red with a green left edge and a blue right edge, as a PNG."""
    img = solid(size, RED)
    img.paste(GREEN, (0, 0, size[0] // 10, size[1]))
    img.paste(BLUE, (size[0] - size[0] // 10, 0, size[0], size[1]))
    return encode(img, "PNG")


def test_letterbox_keeps_the_whole_image_between_bars() -> None:
    img = output(images.prepare_image(striped((200, 100)), PORTRAIT, fit="letterbox"), PORTRAIT)
    # 200x100 fits as 720x360, centred: bars of 460 above and below.
    assert near(img.getpixel((360, 100)), BAR_COLOUR)
    assert near(img.getpixel((360, 1200)), BAR_COLOUR)
    assert near(img.getpixel((20, 640)), GREEN)
    assert near(img.getpixel((360, 640)), RED)
    assert near(img.getpixel((700, 640)), BLUE)


def test_letterbox_bars_are_at_the_sides_for_a_tall_image() -> None:
    img = output(images.prepare_image(photo(100, 200), LANDSCAPE, fit="letterbox"), LANDSCAPE)
    assert near(img.getpixel((100, 360)), BAR_COLOUR)
    assert near(img.getpixel((1180, 360)), BAR_COLOUR)
    assert near(img.getpixel((500, 100)), RED)  # the whole picture: its red corner is there
    assert near(img.getpixel((780, 600)), BLUE)


def test_cover_fills_the_frame_and_crops_the_sides() -> None:
    img = output(images.prepare_image(striped((200, 100)), PORTRAIT, fit="cover"), PORTRAIT)
    for point in [(5, 640), (360, 5), (360, 640), (714, 640), (360, 1274)]:
        assert near(img.getpixel(point), RED)


# ---------------------------------------------------------------- refusals


def test_too_many_bytes_is_refused_before_reading() -> None:
    data = b"\0" * (3 * 1024 * 1024 // 2)
    with pytest.raises(ImageError) as refused:
        images.prepare_image(data, PORTRAIT, max_bytes=1024 * 1024)
    assert str(refused.value) == "That image is too large (1.5 MB); the limit is 1 MB."


def test_byte_limit_is_inclusive() -> None:
    data = encode(solid((50, 50)), "PNG")
    output(images.prepare_image(data, (10, 10), max_bytes=len(data)), (10, 10))
    with pytest.raises(ImageError, match="too large"):
        images.prepare_image(data, (10, 10), max_bytes=len(data) - 1)


def test_pixel_limit_is_checked_per_call() -> None:
    data = encode(solid((1000, 1000)), "JPEG")
    output(images.prepare_image(data, (10, 10), max_pixels=1_000_000), (10, 10))
    with pytest.raises(ImageError) as refused:
        images.prepare_image(data, (10, 10), max_pixels=999_999)
    assert str(refused.value) == (
        "That image has too many pixels (1000x1000, 1 megapixels); the limit is 0.9 megapixels."
    )


@pytest.mark.parametrize("side", [8000, 10000, 30000])  # ours only, Pillow warns, Pillow refuses
def test_decompression_bombs_are_refused_without_decoding(
    monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    decoded: list[object] = []

    def no_decoding(self: ImageFile.ImageFile) -> None:
        decoded.append(self)
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match=r"too many pixels.*the limit is 40 megapixels") as refused:
        images.prepare_image(png_header(side, side), PORTRAIT)
    assert decoded == []
    if side < 30000:  # below Pillow's own hard limit the member is told the size
        assert f"{side}x{side}" in str(refused.value)


def test_pillow_global_limit_warns_quietly_and_refuses_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    # 120,000 pixels: Pillow warns (an error under pytest) but our limit allows it.
    output(images.prepare_image(encode(solid((400, 300)), "PNG"), (10, 10)), (10, 10))
    with pytest.raises(ImageError, match=r"too many pixels; the limit is 0\.2 megapixels\.$"):
        images.prepare_image(encode(solid((500, 500)), "PNG"), (10, 10))
    assert Image.MAX_IMAGE_PIXELS == 100_000  # read, never changed


def truncated(data: bytes) -> bytes:
    """The first two thirds of ``data``."""
    return data[: len(data) * 2 // 3]


DAMAGED_FILES = {
    "truncated jpeg": truncated(encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")),
    "truncated png": truncated(encode(Image.effect_noise((256, 256), 64), "PNG")),
    "png magic then junk": b"\x89PNG\r\n\x1a\n" + b"junk" * 50,
    "jpeg magic then junk": b"\xff\xd8\xff\xe0" + b"junk" * 50,
    "gif header only": b"GIF89a\x10\x00\x10\x00",
    "webp junk": b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\0" * 20,
}


@pytest.mark.parametrize("data", DAMAGED_FILES.values(), ids=DAMAGED_FILES.keys())
def test_damaged_files_are_refused_with_a_clear_sentence(data: bytes) -> None:
    with pytest.raises(ImageError) as refused:
        images.prepare_image(data, PORTRAIT)
    assert str(refused.value) == DAMAGED


@pytest.mark.parametrize(("size", "fit"), [((0, 720), "cover"), (PORTRAIT, "stretch")])
def test_programming_mistakes_are_not_blamed_on_the_member(size: Any, fit: Any) -> None:
    with pytest.raises(ValueError) as raised:
        images.prepare_image(photo(10, 10), size, fit=fit)
    assert not isinstance(raised.value, ImageError)


# ---------------------------------------------------------------- async


async def test_async_runs_in_a_worker_thread_and_keeps_the_loop_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    entered, release = asyncio.Event(), threading.Event()
    threads: list[int] = []
    prepare = images.prepare_image

    def blocking(*args: Any, **kwargs: Any) -> PreparedImage:
        threads.append(threading.get_ident())
        loop.call_soon_threadsafe(entered.set)
        # Only a free event loop can set `release`; on the loop thread this would time out.
        assert release.wait(timeout=5)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(images, "prepare_image", blocking)
    task = asyncio.create_task(images.prepare_image_async(photo(64, 48), PORTRAIT, fit="letterbox"))
    async with asyncio.timeout(5):
        await entered.wait()
    release.set()
    result = await task
    assert threads and threads[0] != threading.get_ident()
    assert result == prepare(photo(64, 48), PORTRAIT, fit="letterbox")


async def test_concurrent_async_calls_give_the_sync_results() -> None:
    inputs = [photo(400, 200, orientation) for orientation in (1, 3, 6, 8)]
    results = await asyncio.gather(*(images.prepare_image_async(d, PORTRAIT) for d in inputs))
    assert results == [images.prepare_image(d, PORTRAIT) for d in inputs]


async def test_async_raises_the_same_image_error() -> None:
    with pytest.raises(ImageError, match="not an image"):
        await images.prepare_image_async(b"plain text", PORTRAIT)
