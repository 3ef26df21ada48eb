"""The one small interface every provider protocol implements.

A :class:`VideoRequest` goes in; an async stream of :data:`Event` comes out:
``Submitted`` (only where the job can be resumed), any number of ``Queued`` and
``Progress``, and exactly one end, ``Completed`` or ``Failed``. Providers never
raise out of ``generate``/``resume`` for provider faults: they end the stream
with ``Failed`` carrying a typed :class:`~bot.providers.errors.ProviderError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from bot.i18n import msg
from bot.providers.errors import ProviderError, UnsupportedOption

Orientation = Literal["portrait", "landscape"]
ORIENTATIONS: tuple[Orientation, ...] = ("portrait", "landscape")
#: The aspect ratio each orientation asks for, in every protocol's notation.
ASPECT_RATIOS: dict[Orientation, str] = {"portrait": "9:16", "landscape": "16:9"}
#: The standard 720p frame of each orientation (the Sora-2 resellers' input size).
SIZES_720P: dict[Orientation, tuple[int, int]] = {
    "portrait": (720, 1280),
    "landscape": (1280, 720),
}
#: The models the Sora-2 reseller protocols offer when none is configured.
SORA_MODELS = ("sora-2", "sora-2-pro")


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An input image already fitted to the exact pixel size of the target video."""

    data: bytes
    mime: str  # "image/png", "image/jpeg" or "image/webp"
    width: int
    height: int
    source_url: str | None = None  # the original (e.g. Discord CDN) URL, for pass-through

    @property
    def filename(self) -> str:
        """A file name whose extension matches the encoded format."""
        return "input." + {"image/jpeg": "jpg", "image/webp": "webp"}.get(self.mime, "png")

    def data_url(self) -> str:
        """The image inline as a ``data:`` URL."""
        import base64

        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """What a user asked for, already validated against the provider's capabilities."""

    prompt: str
    image: PreparedImage | None
    duration: int
    orientation: Orientation
    model: str
    hd: bool = False


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Submitted:
    """The provider accepted the job; ``task_id`` lets it be resumed after a restart.

    ``provider`` names which configured provider took it, when there are several.
    """

    task_id: str
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """The job waits at the provider."""

    status: str = "queued"
    position: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """The job is rendering. ``percent`` is 0-100 when the provider says it."""

    percent: float | None
    status: str = "generating"


@dataclass(frozen=True, slots=True)
class Completed:
    """The job ended well: a public URL, or the video itself when there is none.

    ``file`` is a downloaded mp4 in a temporary file that now belongs to the
    consumer (move it or delete it): providers stream downloads to disk rather
    than holding a whole video in memory. ``content`` is the same as bytes.
    """

    url: str | None = None
    content: bytes | None = None
    file: Path | None = None

    def __post_init__(self) -> None:
        if self.url is None and self.content is None and self.file is None:
            raise ValueError("Completed needs a url, content or a file")


@dataclass(frozen=True, slots=True)
class Failed:
    """The job ended badly; ``error`` says why and decides retry/refund/message."""

    error: ProviderError


Event = Submitted | Queued | Progress | Completed | Failed
END_EVENTS = (Completed, Failed)


# ---------------------------------------------------------------- capabilities


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one model accepts on one provider."""

    name: str
    durations: tuple[int, ...]
    sizes: Mapping[Orientation, tuple[int, int]]
    hd: bool = False
    hd_sizes: Mapping[Orientation, tuple[int, int]] = field(default_factory=dict)
    hd_durations: tuple[int, ...] | None = None  # durations where hd applies (None: all)

    @property
    def default_duration(self) -> int:
        """The shortest duration: cheapest and fastest."""
        return self.durations[0]

    def size(self, orientation: Orientation, hd: bool = False) -> tuple[int, int]:
        """The exact pixel size the input image must have."""
        if hd and orientation in self.hd_sizes:
            return self.hd_sizes[orientation]
        return self.sizes[orientation]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a configured provider supports, so commands offer only valid choices."""

    models: tuple[ModelSpec, ...]
    resumable: bool
    cancellable: bool = False

    @property
    def default_model(self) -> ModelSpec:
        """The first model is the configured default."""
        return self.models[0]

    def model(self, name: str | None) -> ModelSpec:
        """The spec for ``name`` (the default when ``None``); UnsupportedOption if unknown."""
        if name is None:
            return self.default_model
        for spec in self.models:
            if spec.name == name:
                return spec
        choices = ", ".join(m.name for m in self.models)
        raise UnsupportedOption(
            msg(
                "Model {model} is not available here; choose one of: {choices}.",
                model=repr(name),
                choices=choices,
            )
        )

    @property
    def all_durations(self) -> tuple[int, ...]:
        """Every duration some model supports, sorted."""
        return tuple(sorted({d for m in self.models for d in m.durations}))

    def validate(
        self,
        *,
        model: str | None,
        duration: int | None,
        orientation: Orientation,
        hd: bool = False,
    ) -> tuple[ModelSpec, int]:
        """Check an option combination; returns the model spec and the duration to use."""
        spec = self.model(model)
        if orientation not in spec.sizes:
            raise UnsupportedOption(
                msg("{model} cannot make landscape videos.", model=spec.name)
                if orientation == "landscape"
                else msg("{model} cannot make portrait videos.", model=spec.name)
            )
        chosen = spec.default_duration if duration is None else duration
        if chosen not in spec.durations:
            allowed = ", ".join(f"{d}s" for d in spec.durations)
            raise UnsupportedOption(
                msg(
                    "{model} cannot make {seconds}s videos; choose one of: {choices}.",
                    model=spec.name,
                    seconds=chosen,
                    choices=allowed,
                )
            )
        if hd and not spec.hd:
            raise UnsupportedOption(msg("HD is not available on {model}.", model=spec.name))
        if hd and spec.hd_durations is not None and chosen not in spec.hd_durations:
            raise UnsupportedOption(
                msg(
                    "HD is not available for {seconds}s videos on {model}.",
                    model=spec.name,
                    seconds=chosen,
                )
            )
        return spec, chosen


# ---------------------------------------------------------------- the protocol


@runtime_checkable
class Provider(Protocol):
    """A video provider speaking one wire protocol."""

    name: str  # "chat", "generations" or "videos"
    capabilities: Capabilities

    def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Submit ``request`` and stream its events until exactly one end event."""
        ...

    def resume(self, task_id: str) -> AsyncIterator[Event]:
        """Poll an already submitted job again (never resubmits). Resumable providers only."""
        ...

    async def cancel(self, task_id: str) -> None:
        """Ask the provider to stop/delete a job, where the protocol allows; best effort."""
        ...
