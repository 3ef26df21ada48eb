"""OpenRouter's video model catalogue (``GET /api/v1/videos/models``), read defensively.

Each catalogue entry says what one model accepts: ``supported_durations``
(discrete, like ``[4, 6, 8]``), ``supported_aspect_ratios``,
``supported_resolutions``, ``supported_sizes``, ``supported_frame_images``
(which ``frame_type`` values it takes), ``generate_audio``, ``seed`` and
``pricing_skus``. Anything outside those sets is refused with a 400, so the bot
offers members only what a model lists. Reference:
https://openrouter.ai/docs/api/api-reference/video-generation/list-videos-models

Everything here is pure and total: an odd field makes one model unusable (or
drops one price), never the whole catalogue, and never raises past
:func:`parse_catalogue`, which raises :class:`ProviderProtocolError` only when
the answer has no list of models at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.providers.base import ASPECT_RATIOS, ModelSpec, Orientation
from bot.providers.errors import ProviderProtocolError

BASE_RESOLUTION = "720p"  # what a job renders at without HD, when the model lists it
HD_RESOLUTION = "1080p"  # preferred HD step (4K would multiply the price for little gain)
MAX_DURATION = 120  # longer "durations" are nonsense for a chat bot's clips

# Before the catalogue is read (or when it cannot be), configured models get these
# conservative limits: one 8 s clip (Veo 3.1, Sora 2 and Seedance all accept 8 s),
# 720p in both orientations, no HD, and no resolution sent (the model's default).
FALLBACK_DURATIONS = (8,)

_RESOLUTION = re.compile(r"^\s*(\d{3,4})p\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d{2,5})\s*[x×]\s*(\d{2,5})\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CatalogueModel:
    """One catalogue entry usable for image-to-video, with what to send for each choice."""

    name: str
    durations: tuple[int, ...]
    orientations: tuple[Orientation, ...]
    sizes: Mapping[Orientation, tuple[int, int]]
    hd_sizes: Mapping[Orientation, tuple[int, int]] = field(default_factory=dict)
    resolution: str | None = None  # sent without HD (None: not sent)
    hd_resolution: str | None = None  # sent with HD
    send_aspect_ratio: bool = True  # the model lists aspect ratios (else none is sent)
    send_size: bool = False  # the model lists sizes but no resolutions: send ``size``
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # SKU -> money per second

    @property
    def spec(self) -> ModelSpec:
        """The :class:`ModelSpec` the rest of the bot validates choices against."""
        return ModelSpec(
            self.name,
            self.durations,
            dict(self.sizes),
            hd=bool(self.hd_sizes),
            hd_sizes=dict(self.hd_sizes),
        )

    @property
    def price_per_second(self) -> Decimal | None:
        """The highest per-second price of any SKU: an estimate that never undercounts."""
        return max(self.prices.values()) if self.prices else None


def fallback_model(name: str) -> CatalogueModel:
    """What a configured model is assumed to accept before the catalogue is read."""
    sizes = {o: size_for(ASPECT_RATIOS[o], BASE_RESOLUTION) for o in ASPECT_RATIOS}
    return CatalogueModel(name, FALLBACK_DURATIONS, tuple(ASPECT_RATIOS), sizes)


def size_for(ratio: str, resolution: str) -> tuple[int, int]:
    """Pixels of ``resolution`` (``720p``: the short side) at ``ratio`` (16:9 or 9:16).

    720p 16:9 is 1280x720, 1080p 9:16 is 1080x1920; the long side is rounded to
    an even number, as encoders need.
    """
    match = _RESOLUTION.match(resolution)
    short = int(match.group(1)) if match else 720
    long = round(short * 16 / 9 / 2) * 2
    return (short, long) if ratio == "9:16" else (long, short)


def parse_catalogue(data: Any) -> list[CatalogueModel]:
    """Every model in a catalogue answer that can animate an image (accepts ``first_frame``).

    Raises :class:`ProviderProtocolError` when ``data`` is not ``{"data": [...]}``
    (or a bare list); entries that are unusable are skipped.
    """
    entries = data.get("data") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ProviderProtocolError("the video model catalogue has no list of models")
    models: list[CatalogueModel] = []
    for entry in entries:
        model = parse_model(entry)
        if model is not None:
            models.append(model)
    return models


def parse_model(entry: object) -> CatalogueModel | None:
    """One catalogue entry, or ``None`` when it cannot take a first frame or lists no durations."""
    if not isinstance(entry, dict):
        return None
    name = entry.get("id")
    if not isinstance(name, str) or not name.strip():
        return None
    if "first_frame" not in _strings(entry.get("supported_frame_images")):
        return None
    durations = tuple(
        sorted(
            {
                d
                for d in _list(entry.get("supported_durations"))
                if isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_DURATION
            }
        )
    )
    if not durations:
        return None
    ratios = _strings(entry.get("supported_aspect_ratios"))
    sizes = [s for s in (_parse_size(v) for v in _strings(entry.get("supported_sizes"))) if s]
    resolutions = sorted(
        {r.lower() for r in _strings(entry.get("supported_resolutions")) if _RESOLUTION.match(r)},
        key=lambda r: int(r[:-1]),
    )
    if ratios:
        orientations = tuple(o for o, r in ASPECT_RATIOS.items() if r in ratios)
    elif sizes:
        orientations = tuple(o for o in ASPECT_RATIOS if any(_fits(s, o) for s in sizes))
    else:
        orientations = ("landscape",)  # no control offered: 16:9 is every model's default
    if not orientations:
        return None
    base_res, hd_res = _resolution_steps(resolutions)
    base: dict[Orientation, tuple[int, int]] = {}
    hd: dict[Orientation, tuple[int, int]] = {}
    for orientation in orientations:
        ratio = ASPECT_RATIOS[orientation]
        listed = sorted((s for s in sizes if _fits(s, orientation)), key=min)
        if base_res is not None:
            base[orientation] = _listed_or(listed, base_res, ratio)
            if hd_res is not None:
                hd[orientation] = _listed_or(listed, hd_res, ratio)
        elif listed:
            base[orientation] = listed[0]
            if min(listed[-1]) > min(listed[0]):
                hd[orientation] = listed[-1]
        else:
            base[orientation] = size_for(ratio, BASE_RESOLUTION)
    return CatalogueModel(
        name=name.strip(),
        durations=durations,
        orientations=orientations,
        sizes=base,
        hd_sizes=hd if len(hd) == len(base) else {},
        resolution=base_res,
        hd_resolution=hd_res,
        send_aspect_ratio=bool(ratios),
        send_size=base_res is None and bool(sizes),
        prices=parse_prices(entry.get("pricing_skus")),
    )


def parse_prices(skus: object) -> dict[str, Decimal]:
    """Per-second prices from ``pricing_skus``, in the catalogue's currency (USD).

    Seen shapes: ``duration_seconds_*`` keys priced per second of video
    (``"0.40"``) and ``cents_per_*second*`` keys priced in cents. Token-priced
    SKUs (``video_tokens*``) and anything unreadable are left out.
    """
    prices: dict[str, Decimal] = {}
    if not isinstance(skus, dict):
        return prices
    for key, raw in skus.items():
        if not isinstance(key, str) or isinstance(raw, bool):
            continue
        try:
            value = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            continue
        if not value.is_finite() or value < 0:
            continue
        name = key.lower()
        if name.startswith("duration_seconds"):
            prices[key] = value
        elif name.startswith("cents_per_") and "second" in name and "megapixel" not in name:
            prices[key] = value / 100
    return prices


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [v.strip() for v in _list(value) if isinstance(v, str) and v.strip()]


def _parse_size(value: str) -> tuple[int, int] | None:
    match = _SIZE.match(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _fits(size: tuple[int, int], orientation: Orientation) -> bool:
    """Whether ``size`` is (within rounding) 9:16 for portrait or 16:9 for landscape."""
    width, height = size if orientation == "landscape" else size[::-1]
    return height > 0 and abs(width / height - 16 / 9) < 0.02


def _resolution_steps(resolutions: list[str]) -> tuple[str | None, str | None]:
    """``(without HD, with HD)``: 720p (else the lowest), and 1080p (else the next one up)."""
    if not resolutions:
        return None, None
    base = BASE_RESOLUTION if BASE_RESOLUTION in resolutions else resolutions[0]
    higher = [r for r in resolutions if int(r[:-1]) > int(base[:-1])]
    if not higher:
        return base, None
    return base, HD_RESOLUTION if HD_RESOLUTION in higher else higher[0]


def _listed_or(listed: list[tuple[int, int]], resolution: str, ratio: str) -> tuple[int, int]:
    """The listed size whose short side is ``resolution``, else the computed one."""
    short = int(resolution[:-1])
    for size in listed:
        if min(size) == short:
            return size
    return size_for(ratio, resolution)
