"""`/history`: a member's recent jobs, a page at a time, rendered as one embed.

Result links from providers expire (often within the hour), so a link is shown
only while the job finished less than ``RESULT_LINK_HOURS`` ago; older ones say
the link has expired instead of offering a dead one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.db import Job, Store
from bot.db.models import utc
from bot.i18n import DEFAULT_LOCALE, N_, t, translate_known
from bot.ui.markdown import escape
from bot.ui.text import option_parts

PAGE_SIZE = 5
PROMPT_PREVIEW = 120
DESCRIPTION_LIMIT = 4096

_STATUS = {
    "queued": N_("⏳ waiting"),
    "submitted": N_("🎬 in progress"),
    "running": N_("🎬 in progress"),
    "completed": N_("✅ done"),
    "failed": N_("❌ failed"),
    "cancelled": N_("🚫 cancelled"),
}


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page: its text, where it starts, and whether newer and older pages exist.

    ``locale`` is the reader's (the page is private): the embed's title and
    buttons are written in it too.
    """

    user_id: int
    offset: int
    text: str
    has_newer: bool
    has_older: bool
    locale: str = DEFAULT_LOCALE

    @property
    def newer_offset(self) -> int:
        """Where the previous (newer) page starts."""
        return max(self.offset - PAGE_SIZE, 0)

    @property
    def older_offset(self) -> int:
        """Where the next (older) page starts."""
        return self.offset + PAGE_SIZE


async def load_page(
    store: Store,
    user_id: int,
    offset: int,
    *,
    link_ttl: float,
    now: datetime | None = None,
    locale: str = DEFAULT_LOCALE,
) -> HistoryPage:
    """The member's jobs from ``offset`` (newest first); a page past the end shows the last."""
    offset = max(offset, 0)
    jobs = await store.recent_jobs(user_id, PAGE_SIZE + 1, offset)
    if not jobs and offset:
        offset = 0
        jobs = await store.recent_jobs(user_id, PAGE_SIZE + 1, 0)
    shown = jobs[:PAGE_SIZE]
    text = render_jobs(shown, offset, link_ttl=link_ttl, now=now, locale=locale)
    return HistoryPage(user_id, offset, text, offset > 0, len(jobs) > PAGE_SIZE, locale)


def link_valid(job: Job, link_ttl: float, now: datetime | None = None) -> bool:
    """Whether the job's result link is recent enough to still work."""
    if job.status != "completed" or not job.result_url or job.finished_at is None:
        return False
    return (utc(now) - job.finished_at).total_seconds() < link_ttl


def render_job(
    job: Job, *, link_ttl: float, now: datetime | None = None, locale: str = DEFAULT_LOCALE
) -> str:
    """One job: number, date, status, options, prompt, and the link while it works."""
    parts = option_parts(job.options, locale)
    stamp = int(job.created_at.timestamp())
    # The member's words (and the provider's, in an error) shown as typed: no
    # mentions, masked links or headings of theirs render in the bot's embed.
    prompt = escape(" ".join(job.prompt.split()), PROMPT_PREVIEW, mentions=True)
    status = t(locale, _STATUS[job.status]) if job.status in _STATUS else job.status
    lines = [
        f"**#{job.id}** · <t:{stamp}:f> · {status} · " + " · ".join(parts),
        f"> {prompt}",
    ]
    if link_valid(job, link_ttl, now):
        label = t(locale, "open the video")
        lines.append(f"🔗 [{label}]({job.result_url})")
    elif job.status == "completed" and job.result_url:
        lines.append("🔗 " + t(locale, "the link has expired"))
    elif job.status in ("failed", "cancelled") and job.error:
        # A fixed reason of the bot's (a catalogue message) reads in the member's language.
        error = translate_known(locale, job.error)
        lines.append(f"-# {escape(' '.join(error.split()), 150)}")
    return "\n".join(lines)


def render_jobs(
    jobs: list[Job],
    offset: int,
    *,
    link_ttl: float,
    now: datetime | None,
    locale: str = DEFAULT_LOCALE,
) -> str:
    """A page of jobs, or a friendly note when there are none."""
    if not jobs:
        return t(locale, "You have not made any videos yet. Try `/video`!")
    blocks: list[str] = []
    size = 0
    for job in jobs:
        block = render_job(job, link_ttl=link_ttl, now=now, locale=locale)
        size += len(block) + 2
        if size > DESCRIPTION_LIMIT - 50:
            break
        blocks.append(block)
    first, last = offset + 1, offset + len(blocks)
    footer = t(locale, "Videos {first}-{last}, newest first.", first=first, last=last)
    return "\n\n".join(blocks) + f"\n\n-# {footer}"
