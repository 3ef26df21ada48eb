"""Turn whatever image a Discord member uploads into the exact input frame a provider wants.

Providers refuse an input image whose pixel size differs from the requested video
size (``Inpaint image must match the requested width and height``), so every
image goes through :func:`prepare_image`: checked (bytes, real format, pixel
count) before anything is decoded, decoded defensively, rotated upright from its
EXIF orientation, flattened to RGB, fitted to the exact size and re-encoded as a
JPEG without metadata.

Accepted formats are PNG, JPEG, WebP and GIF: what Discord members actually
upload and what the providers themselves accept. BMP and TIFF are refused on
purpose: nobody needs them here, and TIFF brings a large decoder surface
(many codecs, multi-page files) for no benefit.

Transparency becomes white (:data:`BACKGROUND`) in both fits, because most
transparent uploads are logos and stickers drawn in dark ink that black would
hide. Letterbox bars are black (:data:`BAR_COLOUR`), the cinema convention, so
the bars read as "outside the picture" rather than as part of it.

Memory: decoding stays within ``max_decode_bytes`` (estimated from the header,
refused before decoding when over; see :mod:`bot.media.decode`), and
:func:`prepare_image_async` runs at most :data:`DECODE_CONCURRENCY` decodes at
once per event loop, so many jobs at once do not multiply the peak.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import struct
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TypedDict, Unpack

from PIL import Image, ImageOps

from bot.i18n import N_, Msg, msg
from bot.media import decode
from bot.providers.base import PreparedImage

log = logging.getLogger(__name__)

Fit = Literal["cover", "letterbox"]
FITS: tuple[Fit, ...] = ("cover", "letterbox")
ALLOWED_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
# Peak memory of one decode. A 40-megapixel RGB(A) PNG, the worst the pixel limit
# lets through, needs about 200 MB (159 MB of it just the decoded pixels).
DEFAULT_MAX_DECODE_BYTES = 256 * 1024 * 1024
# Decodes at once (per event loop): CPU-bound, and each may hold its budget.
DECODE_CONCURRENCY = 2
BACKGROUND = decode.BACKGROUND
BAR_COLOUR = (0, 0, 0)
JPEG_QUALITY = 90

NOT_AN_IMAGE = N_("That file is not an image the bot can read (PNG, JPEG, WebP or GIF).")
DAMAGED = N_("That image is damaged or incomplete; try saving it again or upload another file.")

_MIB = 1024 * 1024
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
# What Pillow's decoders raise on hostile or broken input, besides the bomb errors.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


class ImageError(ValueError):
    """The upload cannot be used; the message is a sentence safe to show a Discord member.

    ``message`` is a catalogue message (a :class:`~bot.i18n.Msg` when it has
    numbers), translated where it is shown; ``str()`` is the English text.
    """

    def __init__(self, message: str | Msg) -> None:
        super().__init__(str(message))
        self.message = message

    @property
    def user_message(self) -> str:
        """The same sentence, named like :attr:`ProviderError.user_message`."""
        return str(self)


def sniff(data: bytes) -> str | None:
    """The real format of ``data`` from its magic bytes (a Pillow name), or None if not allowed.

    The file name and the content type Discord reports are the uploader's claims;
    the first bytes are not.
    """
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def probe(data: bytes) -> tuple[str, int, int]:
    """``(format, width, height)`` read from the header only, without decoding pixels.

    The size is as stored, before any EXIF rotation (the pixel count is the same).
    Raises :class:`ImageError` for anything :func:`prepare_image` would refuse as unreadable.
    """
    fmt = _sniff_or_refuse(data)
    with _untrusted(None), Image.open(io.BytesIO(data), formats=[fmt]) as img:
        width, height = img.size
    return fmt, width, height


def prepare_image(
    data: bytes,
    size: tuple[int, int],
    *,
    fit: Fit = "cover",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    source_url: str | None = None,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> PreparedImage:
    """Check, decode and fit ``data`` to exactly ``size`` (width, height) as a JPEG.

    ``fit="cover"`` fills the frame and crops the overflow around the centre;
    ``"letterbox"`` keeps the whole picture and pads with black bars. CPU-bound and
    synchronous: from the event loop use :func:`prepare_image_async`.
    Raises :class:`ImageError` (a member-safe message) when the upload is unusable,
    and a plain ``ValueError`` when ``size`` or ``fit`` is a programming mistake.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    # Cheapest checks first: nothing is parsed until the bytes are small and really an image.
    if len(data) > max_bytes:
        raise ImageError(
            msg(
                "That image is too large ({size} MB); the limit is {limit} MB.",
                size=_amount(len(data) / _MIB, up=True),
                limit=_amount(max_bytes / _MIB, up=False),
            )
        )
    fmt = _sniff_or_refuse(data)
    with _untrusted(max_pixels), Image.open(io.BytesIO(data), formats=[fmt]) as img:
        # Only the header is parsed so far: refuse bombs before any pixel is allocated.
        _check_pixels(img.size, max_pixels)
        source_size = img.size
        _draft(img, size, fit)
        _check_budget(img, source_size, size, fit, max_decode_bytes)
        img.load()  # Image.open leaves animations on their first frame: that one is wanted
        # Cut, flatten and reduce first, so turning and colour work touch only the small copy.
        stored = decode.stored_target(size, decode.orientation(img, _DECODE_ERRORS))
        icc = img.info.get("icc_profile")
        small = decode.shrink(img, stored, fit)
        _make_upright(small)
        rgb = decode.to_rgb(small, icc)
        if fit == "cover":
            framed = ImageOps.fit(rgb, size, method=Image.Resampling.LANCZOS)
        else:
            framed = ImageOps.pad(rgb, size, method=Image.Resampling.LANCZOS, color=BAR_COLOUR)
    # Nothing of the upload's metadata goes out: rotation is already applied, colours are
    # sRGB, and EXIF GPS tags or comments would otherwise reach a third party. Pillow
    # copies ``info`` through every operation and the JPEG encoder reads its comment.
    framed.info.clear()
    out = io.BytesIO()
    framed.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    log.debug(
        "prepared %s %dx%d as %dx%d JPEG (%s, %d bytes)",
        fmt,
        source_size[0],
        source_size[1],
        framed.width,
        framed.height,
        fit,
        out.tell(),
    )
    return PreparedImage(out.getvalue(), "image/jpeg", framed.width, framed.height, source_url)


class ImageOptions(TypedDict, total=False):
    """:func:`prepare_image`'s keyword options, for the functions that pass them on."""

    fit: Fit
    max_bytes: int
    max_pixels: int
    source_url: str | None
    max_decode_bytes: int


async def prepare_image_async(
    data: bytes,
    size: tuple[int, int],
    *,
    slots: asyncio.Semaphore | None = None,
    **options: Unpack[ImageOptions],
) -> PreparedImage:
    """:func:`prepare_image` in a worker thread, so decoding never blocks the event loop.

    At most :data:`DECODE_CONCURRENCY` run at once (``slots`` replaces that shared
    limit); the others wait their turn here, without holding a thread.
    """
    async with slots or decode_slots():
        work = asyncio.ensure_future(asyncio.to_thread(prepare_image, data, size, **options))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            # A thread cannot be stopped: its slot stays taken until it ends, or the
            # bound would not bound memory. Its outcome no longer matters to anyone.
            work.add_done_callback(lambda done: done.cancelled() or done.exception())
            await asyncio.wait([work])
            raise


_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def decode_slots() -> asyncio.Semaphore:
    """The running event loop's shared limit on decodes in progress."""
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:  # one per loop: an asyncio.Semaphore must not cross loops
        slots = _SLOTS[loop] = asyncio.Semaphore(DECODE_CONCURRENCY)
    return slots


# ---------------------------------------------------------------- helpers


def _sniff_or_refuse(data: bytes) -> str:
    fmt = sniff(data)
    if fmt is None:
        log.info("refused an upload that is not an allowed image (%d bytes)", len(data))
        raise ImageError(NOT_AN_IMAGE)
    return fmt


def _amount(value: float, *, up: bool) -> str:
    """One decimal, rounded so an over-limit value never prints as equal to its limit."""
    rounded = (math.ceil if up else math.floor)(value * 10) / 10
    return f"{rounded:g}"


def _pixel_limit(max_pixels: int | None) -> int | None:
    """The limit actually enforced: ours, capped by Pillow's own hard limit."""
    if Image.MAX_IMAGE_PIXELS is None:
        return max_pixels
    hard = 2 * Image.MAX_IMAGE_PIXELS  # beyond this Pillow raises DecompressionBombError
    return hard if max_pixels is None else min(max_pixels, hard)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise ImageError(
            msg(
                "That image has too many pixels ({width}x{height}, {megapixels} megapixels); "
                "the limit is {limit} megapixels.",
                width=size[0],
                height=size[1],
                megapixels=_amount(pixels / 1e6, up=True),
                limit=_amount(max_pixels / 1e6, up=False),
            )
        )


def _check_budget(
    img: Image.Image, source: tuple[int, int], size: tuple[int, int], fit: Fit, budget: int
) -> None:
    """Refuse, before decoding, an image whose decoding would not fit ``budget`` bytes.

    ``img`` is opened (and drafted) but not loaded; ``source`` is its size as uploaded.
    """
    need = decode.estimate_bytes(img.mode, img.size, size, fit, _turn_before_decoding(img))
    if need <= budget:
        return
    width, height = source
    fits = width * height * budget / need
    log.info("refused an image over the decode budget: %dx%d %s", width, height, img.mode)
    raise ImageError(
        msg(
            "That image is too big for the bot to process ({width}x{height}); "
            "try a smaller picture, up to about {limit} megapixels.",
            width=width,
            height=height,
            limit=_amount(fits / 1e6, up=False),
        )
    )


@contextmanager
def _untrusted(max_pixels: int | None) -> Iterator[None]:
    """Run Pillow on uploaded bytes, turning every way it fails into an :class:`ImageError`."""
    # Two kinds of Pillow warning are about the upload, not about our code: the
    # decompression-bomb one (our per-call limit replaces it, and Image.MAX_IMAGE_PIXELS
    # stays untouched) and its UserWarnings on malformed data such as corrupt EXIF.
    # catch_warnings is not thread-safe, but only these filters are at stake: a race can
    # leak or drop them, and a dropped bomb warning still ends below as an ImageError.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        try:
            yield
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            limit = _pixel_limit(max_pixels)
            log.info("refused a decompression bomb: %s", exc)
            message = (
                msg("That image has too many pixels.")
                if limit is None
                else msg(
                    "That image has too many pixels; the limit is {limit} megapixels.",
                    limit=_amount(limit / 1e6, up=False),
                )
            )
            raise ImageError(message) from exc
        except _DECODE_ERRORS as exc:
            log.info("refused an unreadable image: %r", exc)
            raise ImageError(DAMAGED) from exc


def _draft(img: Image.Image, size: tuple[int, int], fit: Fit) -> None:
    """Let the JPEG decoder shrink by 1/2, 1/4 or 1/8 while decoding (no-op for others).

    A 12-megapixel photo then decodes to a quarter of the memory and time. The draft
    never goes below the size the fit needs, so the final LANCZOS step only shrinks;
    if it did, the output would still be exact, just softer.
    """
    if img.format != "JPEG":
        return  # nothing to gain, and reading other formats' EXIF here would decode them
    target_w, target_h = decode.stored_target(size, decode.orientation(img, _DECODE_ERRORS))
    width, height = img.size
    ratios = (target_w / width, target_h / height)
    scale = max(ratios) if fit == "cover" else min(ratios)
    if scale < 0.5:  # the decoder cannot help above half size
        img.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))


def _turn_before_decoding(img: Image.Image) -> int:
    """The EXIF orientation if it is known without decoding, else 1 (upright)."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1  # Pillow decodes a PNG to look for an eXIf chunk after the pixels
    return decode.orientation(img, _DECODE_ERRORS)


def _make_upright(img: Image.Image) -> None:
    """Turn the image in place as its EXIF orientation says; leave it if that is broken."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except _DECODE_ERRORS as exc:
        # Broken metadata is no reason to refuse a picture that decoded fine.
        log.info("ignored an unreadable EXIF orientation: %r", exc)
