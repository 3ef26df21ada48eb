"""Finished videos the bot serves itself, when Discord cannot take them and no link exists.

A video too large to upload, from a provider that gave no public link, is moved
here and posted as ``PUBLIC_BASE_URL/media/<token>.mp4``. The token is
unguessable (``secrets.token_urlsafe(32)``) and is the file's only name; the
link lives ``MEDIA_LINK_HOURS``, after which the file is deleted (by
:meth:`MediaStore.purge`, run periodically and on open). The directory is
bounded by ``MEDIA_MAX_BYTES``: a video that would not fit is refused
(:class:`MediaFull`) and the job refunded, never an older link cut short.

Files are named ``<expiry epoch>-<token>.mp4`` so a restart keeps serving the
links already posted, and tokens never appear in logs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.providers.push import MEDIA_PATH

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{1,12})-([A-Za-z0-9_-]{43})\.mp4$")  # token_urlsafe(32): 43 chars


class MediaFull(Exception):
    """The served-media directory has no room for this video (``MEDIA_MAX_BYTES``)."""


@dataclass(frozen=True, slots=True)
class Served:
    """One served video: where it is on disk, until when, and how big."""

    path: Path = field(repr=False)
    expires: float
    size: int


class MediaStore:
    """Holds served videos under unguessable tokens, with expiry and a total size bound."""

    def __init__(
        self,
        directory: Path,
        public_base_url: str,
        *,
        ttl: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.base = public_base_url.rstrip("/") + MEDIA_PATH
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.clock = clock
        self._files: dict[str, Served] = {}

    @property
    def used(self) -> int:
        """Bytes held by the videos currently served."""
        return sum(f.size for f in self._files.values())

    def open(self) -> None:
        """Create the directory, index the files still valid, delete expired and partial ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match is None or int(match.group(1)) <= now:
                if path.is_file():
                    path.unlink(missing_ok=True)  # expired, or a move cut short
                continue
            self._files[match.group(2)] = Served(path, float(match.group(1)), path.stat().st_size)
        log.info("serving %d video(s) from %s", len(self._files), self.directory)

    def purge(self) -> int:
        """Delete every expired video; returns how many."""
        now = self.clock()
        expired = [token for token, f in self._files.items() if f.expires <= now]
        for token in expired:
            self._files.pop(token).path.unlink(missing_ok=True)
        if expired:
            log.info("removed %d expired served video(s)", len(expired))
        return len(expired)

    async def add(self, source: Path) -> str:
        """Move ``source`` in and return its public URL; :class:`MediaFull` when it does not fit.

        ``source`` is moved (never copied) and belongs to the store from then on,
        unless :class:`MediaFull` is raised, when it is left where it was.
        """
        size = (await asyncio.to_thread(source.stat)).st_size
        self.purge()
        if self.used + size > self.max_bytes:
            log.warning(
                "served media full: %d + %d bytes > MEDIA_MAX_BYTES %d",
                self.used,
                size,
                self.max_bytes,
            )
            raise MediaFull(f"{size} bytes do not fit")
        token = secrets.token_urlsafe(32)
        expires = int(self.clock() + self.ttl) + 1
        dest = self.directory / f"{expires}-{token}.mp4"
        part = dest.with_suffix(".part")
        # Reserved before the move, so two videos moving at once cannot both fit.
        self._files[token] = Served(dest, float(expires), size)
        try:
            await asyncio.to_thread(shutil.move, source, part)
            await asyncio.to_thread(os.replace, part, dest)
        except BaseException:
            self._files.pop(token, None)
            part.unlink(missing_ok=True)
            raise
        return self.base + token + ".mp4"

    def find(self, name: str) -> Path | None:
        """The file for a request path's last part (``<token>.mp4``), if served and unexpired."""
        if not name.endswith(".mp4"):
            return None
        served = self._files.get(name.removesuffix(".mp4"))
        if served is None:
            return None
        if served.expires <= self.clock():
            self.purge()
            return None
        return served.path
