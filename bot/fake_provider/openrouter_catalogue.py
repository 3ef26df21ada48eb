"""The fake OpenRouter's video model catalogue: a few entries shaped like the real ones.

Two image-to-video models in both orientations (one with ``supported_sizes``),
one landscape-only model, and one that cannot start from an image (no
``first_frame``), with ``pricing_skus`` in the per-second and cents shapes.
"""

from __future__ import annotations

from typing import Any

# A few models shaped like the real catalogue's entries.
MODELS: list[dict[str, Any]] = [
    {
        "id": "google/veo-3.1",
        "canonical_slug": "google/veo-3.1",
        "name": "Google: Veo 3.1",
        "created": 1760486400,
        "description": "Video with native audio.",
        "supported_durations": [4, 6, 8],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_resolutions": ["720p", "1080p"],
        "supported_sizes": None,
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "pricing_skus": {
            "duration_seconds_without_audio_720p": "0.20",
            "duration_seconds_with_audio_720p": "0.40",
            "duration_seconds_with_audio_1080p": "0.40",
        },
        "allowed_passthrough_parameters": ["negativePrompt"],
    },
    {
        "id": "alibaba/wan-2.6",
        "canonical_slug": "alibaba/wan-2.6",
        "name": "Alibaba: Wan 2.6",
        "created": 1764547200,
        "description": "Text, image and reference to video.",
        "supported_durations": [5, 10, 15],
        "supported_aspect_ratios": ["16:9", "9:16", "1:1"],
        "supported_resolutions": ["720p", "1080p"],
        "supported_sizes": ["1280x720", "720x1280", "1920x1080", "1080x1920"],
        "supported_frame_images": ["first_frame"],
        "generate_audio": True,
        "seed": True,
        "pricing_skus": {"duration_seconds_720p": "0.04", "duration_seconds_1080p": "0.06"},
        "allowed_passthrough_parameters": [],
    },
    {
        "id": "acme/widescreen",
        "canonical_slug": "acme/widescreen",
        "name": "Acme: Widescreen",
        "created": 1767225600,
        "description": "Landscape only.",
        "supported_durations": [5, 10],
        "supported_aspect_ratios": ["16:9"],
        "supported_resolutions": ["1080p"],
        "supported_sizes": None,
        "supported_frame_images": ["first_frame"],
        "generate_audio": False,
        "seed": False,
        "pricing_skus": {"cents_per_second_output": "7"},
        "allowed_passthrough_parameters": [],
    },
    {
        "id": "acme/text-only",
        "canonical_slug": "acme/text-only",
        "name": "Acme: Text only",
        "created": 1767225600,
        "description": "Text to video; cannot start from an image.",
        "supported_durations": [4, 8],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_resolutions": ["720p"],
        "supported_sizes": None,
        "supported_frame_images": None,
        "generate_audio": False,
        "seed": True,
        "pricing_skus": {"duration_seconds": "0.05"},
        "allowed_passthrough_parameters": [],
    },
]
