"""How a finished video reaches its member: attached, linked, served by the bot, or refunded.

Decided before the credit is kept, so a video the member cannot get is never
charged: a link that leads somewhere internal or to something that is not a
video, an expired link, or a video too large for Discord with no link to post
(and no room or no ``PUBLIC_BASE_URL`` to serve it from) each raise
:class:`Undeliverable`, whose message the member reads with the refund.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.errors import UserError
from bot.i18n import N_
from bot.jobs import pipeline
from bot.jobs.context import RunContext
from bot.media.download import DownloadError, LinkExpired, NotAVideo, UnsafeURL, is_http_url
from bot.media.served import MediaFull
from bot.providers.base import Completed
from bot.providers.registry import result_origin

log = logging.getLogger(__name__)

INVALID_LINK = N_("The video service returned an invalid link.")
EXPIRED = N_("The finished video's link had expired before the bot could fetch it.")
INTERNAL = N_(
    "The video service's link led to a private network address, so the bot did not fetch it."
)
NOT_VIDEO = N_("The video service's link did not lead to a video file.")
TOO_LARGE = N_("The video was too large for Discord and the provider gave no link.")
NO_ROOM = N_("The video was too large for Discord, and the bot has no room left to host it.")


class Undeliverable(UserError):
    """The member could not get this video; the message says why (the job is refunded)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What goes out: a file to attach and/or a link (the provider's, or one the bot serves)."""

    video: Path | None
    url: str | None
    served_hours: float | None = None  # set when ``url`` is the bot's own, expiring link


async def prepare(
    ctx: RunContext, result: Completed, dest: Path, *, upload_limit: int, job_id: int
) -> Delivery:
    """Fetch ``result`` to ``dest`` (bounded) and choose how it is delivered.

    Raises :class:`Undeliverable` when the member could not get it.
    """
    if result.url is not None and not is_http_url(result.url):
        log.warning("job %s: provider returned a non-http(s) link; refused", job_id)
        raise Undeliverable(INVALID_LINK)
    try:
        fits = await pipeline.fetch_video(
            ctx.session,
            result,
            dest,
            max_bytes=upload_limit,
            provider_url=result_origin(ctx.provider, result.url, ctx.media.base_url),
            keep_oversize=True,
        )
    except LinkExpired as exc:
        log.warning("job %s: result link unusable: %s", job_id, exc)
        raise Undeliverable(EXPIRED) from None
    except UnsafeURL as exc:
        log.warning("job %s: result link refused: %s", job_id, exc)
        raise Undeliverable(INTERNAL) from None
    except NotAVideo as exc:
        log.warning("job %s: result link refused: %s", job_id, exc)
        raise Undeliverable(NOT_VIDEO) from None
    except DownloadError as exc:  # a network hiccup: the (checked) link still goes out
        log.warning("job %s: video not attached: %s", job_id, exc)
        if result.url is None:
            raise Undeliverable(TOO_LARGE) from None
        return Delivery(None, result.url)
    if fits:
        return Delivery(dest, result.url)
    if result.url is not None:  # too large to attach: the link is how the member gets it
        return Delivery(None, result.url)
    return await _serve(ctx, dest, job_id)


async def _serve(ctx: RunContext, video: Path, job_id: int) -> Delivery:
    """Host a video Discord cannot take and that has no link; Undeliverable if impossible."""
    if ctx.served is None:
        log.warning("job %s: too large to upload, no link, no PUBLIC_BASE_URL", job_id)
        raise Undeliverable(TOO_LARGE)
    try:
        url = await ctx.served.add(video)
    except MediaFull:
        raise Undeliverable(NO_ROOM) from None
    except OSError as exc:
        log.error("job %s: could not host the video: %s", job_id, exc)
        raise Undeliverable(TOO_LARGE) from None
    log.info("job %s: too large to upload; served by the bot", job_id)
    return Delivery(None, url, served_hours=ctx.served.ttl / 3600)
