"""Decoding an upload within a memory budget: shrink early, in bands, and never copy it whole.

The decoded pixels of a large upload are by far the biggest allocation of a job
(a 6300x6300 PNG is 159 MB once decoded, whatever its file size), and the old
pipeline made two or three more full-size copies of them (transparency
flattening, rotation, colour conversion). Here:

- JPEGs decode at 1/2, 1/4 or 1/8 scale when the target allows (``draft``);
- other formats decode at full size (Pillow cannot do otherwise), then the part
  the fit keeps is flattened to RGB and box-reduced (``Image.reduce``) band by
  band, so the only other large allocation is the reduced copy, at most a
  quarter of the decoded size; what is left (rotation, colour profile, the exact
  fit) runs on that small image;
- :func:`estimate_bytes` predicts the peak from the header alone, so an image
  that cannot fit the budget is refused before a pixel is decoded.

The reduction keeps at least :data:`REDUCING_GAP` times the final size before the
LANCZOS step, as :meth:`PIL.Image.Image.thumbnail` does by default: the result
is visually the same as resampling the full image.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Literal

from PIL import ExifTags, Image, ImageCms, features

log = logging.getLogger(__name__)

Fit = Literal["cover", "letterbox"]
Box = tuple[int, int, int, int]

REDUCING_GAP = 2.0
BAND_PIXELS = 1_000_000  # pixels flattened at a time: a few MB per band
BACKGROUND = (255, 255, 255)
# Bytes per pixel of Pillow's storage for each mode (everything else uses 4).
_STORAGE = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# EXIF orientations that turn the picture by 90 degrees: the stored image is sideways.
SIDEWAYS = frozenset({5, 6, 7, 8})
# Pillow built without littlecms still imports ImageCms but fails on use: colours stay as stored.
_COLOUR_MANAGED = features.check_module("littlecms2")
# What ImageOps.exif_transpose reads the orientation from: kept on shrunk copies.
_ORIENTATION_INFO = ("exif", "xmp", "XML:com.adobe.xmp")


def orientation(img: Image.Image, errors: tuple[type[BaseException], ...]) -> int:
    """The EXIF (or XMP) orientation, 1 when absent or unreadable."""
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except errors:
        return 1
    return value if isinstance(value, int) and value in range(1, 9) else 1


def stored_target(size: tuple[int, int], turn: int) -> tuple[int, int]:
    """The target size in the stored (not yet upright) image's axes."""
    return (size[1], size[0]) if turn in SIDEWAYS else size


def region(size: tuple[int, int], target: tuple[int, int], fit: Fit) -> Box:
    """The part of the image the fit keeps: the centred crop of ``cover``, or all of it."""
    width, height = size
    if fit == "letterbox":
        return (0, 0, width, height)
    aspect = target[0] / target[1]
    if width / height > aspect:  # too wide: keep the middle columns
        keep = max(1, min(width, round(height * aspect)))
        left = (width - keep) // 2
        return (left, 0, left + keep, height)
    keep = max(1, min(height, round(width / aspect)))
    top = (height - keep) // 2
    return (0, top, width, top + keep)


def reduce_factor(box: Box, target: tuple[int, int], fit: Fit) -> int:
    """How much the kept part can be box-reduced while staying REDUCING_GAP x the target."""
    width, height = box[2] - box[0], box[3] - box[1]
    ratios = (width / target[0], height / target[1])
    room = min(ratios) if fit == "cover" else max(ratios)
    return max(1, math.floor(room / REDUCING_GAP))


def needs_flattening(img: Image.Image) -> bool:
    """Whether the pixels must change mode before they can be reduced or encoded."""
    return img.mode != "RGB" or img.has_transparency_data


def estimate_bytes(
    mode: str, size: tuple[int, int], target: tuple[int, int], fit: Fit, turn: int
) -> int:
    """The peak memory of decoding, :func:`shrink`, turning upright and the fit (upper bound).

    From the header alone: ``mode`` and ``size`` as decoding will produce them (after
    any JPEG draft), ``turn`` the EXIF orientation.
    """
    stored = stored_target(target, turn)
    box = region(size, stored, fit)
    factor = reduce_factor(box, stored, fit)
    kept = (box[2] - box[0]) * (box[3] - box[1])
    pixels = size[0] * size[1]
    decoded = pixels * _STORAGE.get(mode, 4)
    if factor > 1 or mode != "RGB":  # a flattened, reduced copy (transparency: assume some)
        shrunk = 4 * math.ceil(kept / factor**2)
    elif _crops(kept, pixels):
        shrunk = 4 * kept
    else:
        shrunk = 0  # the decoded image itself is used
    turning = 4 * (math.ceil(kept / factor**2) if shrunk or factor > 1 else pixels)
    bands = 3 * 4 * BAND_PIXELS  # the crop, its flattening and its reduction
    framing = 3 * 4 * target[0] * target[1]  # LANCZOS passes and the frame
    return decoded + shrunk + (turning if turn != 1 else 0) + bands + framing


def _crops(kept: int, pixels: int) -> bool:
    """Whether copying out the kept part is worth it (the rest is three quarters or more)."""
    return 4 * kept <= pixels


def shrink(img: Image.Image, target: tuple[int, int], fit: Fit) -> Image.Image:
    """The kept part of the loaded ``img``, flattened to RGB or CMYK and box-reduced.

    ``target`` is in the stored image's axes. When there is nothing to flatten or
    reduce, returns ``img`` itself (the fit crops it then) or, if most of it is cut
    away, a copy of the kept part. Copies keep what the EXIF orientation is read from.
    """
    box = region(img.size, target, fit)
    factor = reduce_factor(box, target, fit)
    if factor == 1 and not needs_flattening(img):
        kept = (box[2] - box[0]) * (box[3] - box[1])
        return img.crop(box) if _crops(kept, img.width * img.height) else img
    left, top, right, bottom = box
    # Whole blocks only (drops under ``factor`` edge pixels): bands then line up exactly.
    right = left + (right - left) // factor * factor
    bottom = top + (bottom - top) // factor * factor
    width = right - left
    rows = factor * max(1, BAND_PIXELS // max(1, width * factor))
    out: Image.Image | None = None
    for y in range(top, bottom, rows):
        band = flatten(img.crop((left, y, right, min(y + rows, bottom))))
        if factor > 1:
            band = band.reduce(factor)
        if out is None:
            out = Image.new(band.mode, (width // factor, (bottom - top) // factor))
        out.paste(band, (0, (y - top) // factor))
    assert out is not None  # the box is never empty
    out.info = {key: img.info[key] for key in _ORIENTATION_INFO if key in img.info}
    return out


def flatten(img: Image.Image) -> Image.Image:
    """8-bit RGB (or CMYK, left for its colour profile) with transparency on :data:`BACKGROUND`."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        # 16-bit grey: a plain convert clips at 255 and turns nearly every pixel white.
        transparent = img.info.get("transparency")
        img = img.convert("I").point(lambda value: value / 256).convert("L")
        if isinstance(transparent, int):
            # Approximate: greys sharing the transparent one's top byte become background too.
            img.info["transparency"] = transparent >> 8
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, BACKGROUND)
        img.paste(rgba, mask=rgba.getchannel("A"))
    elif img.mode not in ("RGB", "CMYK"):
        img = img.convert("RGB")
    return img


def to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit sRGB with transparency flattened onto :data:`BACKGROUND`: what a video frame is."""
    img = flatten(img)
    if icc and _COLOUR_MANAGED:
        img = to_srgb(img, icc)
    return img if img.mode == "RGB" else img.convert("RGB")


def to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Apply an embedded colour profile (Display P3 phone photos, CMYK print files).

    The encoded output carries no profile and providers assume sRGB, so without this
    wide-gamut photos come out dull and CMYK ones garish. Best effort: a profile
    that does not fit the pixels leaves them as stored.
    """
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.info("ignored an unusable colour profile: %r", exc)
        return img
    return img if converted is None else converted
