"""What a running job needs, as one small object handed to it by the job service."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from bot.config import ProviderSettings
from bot.db import Store
from bot.jobs.ledger import Unsettled
from bot.jobs.slots import SlotQueue
from bot.media.served import MediaStore
from bot.providers.base import Provider
from bot.ui.edits import EditScheduler


@dataclass(frozen=True, slots=True)
class RunContext:
    """A job's dependencies: the ledger, the provider, downloads, slots, progress edits.

    ``media`` holds the provider's settings (its origin, image fit, size and pixel
    limits); ``image_origins`` are where attachments may be fetched from whatever
    their address (``DISCORD_API_BASE_URL`` when set). ``served`` hands out links to
    videos Discord cannot take (when ``PUBLIC_BASE_URL`` is set); ``unsettled``
    takes the settlements the database refused, for the reconciler.
    """

    store: Store
    provider: Provider
    session: aiohttp.ClientSession
    slots: SlotQueue
    edits: EditScheduler
    media: ProviderSettings
    image_origins: tuple[str, ...] = ()
    served: MediaStore | None = None
    unsettled: Unsettled = field(default_factory=Unsettled)
