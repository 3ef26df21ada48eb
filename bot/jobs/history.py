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
from bot.ui.markdown import escape

PAGE_SIZE = 5
PROMPT_PREVIEW = 120
DESCRIPTION_LIMIT = 4096

_STATUS = {
    "queued": "⏳ waiting",
    "submitted": "🎬 in progress",
    "running": "🎬 in progress",
    "completed": "✅ done",
    "failed": "❌ failed",
    "cancelled": "🚫 cancelled",
}


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page: its text, where it starts, and whether newer and older pages exist."""

    user_id: int
    offset: int
    text: str
    has_newer: bool
    has_older: bool

    @property
    def newer_offset(self) -> int:
        """Where the previous (newer) page starts."""
        return max(self.offset - PAGE_SIZE, 0)

    @property
    def older_offset(self) -> int:
        """Where the next (older) page starts."""
        return self.offset + PAGE_SIZE


async def load_page(
    store: Store, user_id: int, offset: int, *, link_ttl: float, now: datetime | None = None
) -> HistoryPage:
    """The member's jobs from ``offset`` (newest first); a page past the end shows the last."""
    offset = max(offset, 0)
    jobs = await store.recent_jobs(user_id, PAGE_SIZE + 1, offset)
    if not jobs and offset:
        offset = 0
        jobs = await store.recent_jobs(user_id, PAGE_SIZE + 1, 0)
    shown = jobs[:PAGE_SIZE]
    text = render_jobs(shown, offset, link_ttl=link_ttl, now=now)
    return HistoryPage(user_id, offset, text, offset > 0, len(jobs) > PAGE_SIZE)


def link_valid(job: Job, link_ttl: float, now: datetime | None = None) -> bool:
    """Whether the job's result link is recent enough to still work."""
    if job.status != "completed" or not job.result_url or job.finished_at is None:
        return False
    return (utc(now) - job.finished_at).total_seconds() < link_ttl


def render_job(job: Job, *, link_ttl: float, now: datetime | None = None) -> str:
    """One job: number, date, status, options, prompt, and the link while it works."""
    options = job.options
    parts = [
        f"{options.get('duration')}s",
        str(options.get("orientation")),
        str(options.get("model")),
    ]
    if options.get("hd"):
        parts.append("HD")
    stamp = int(job.created_at.timestamp())
    # The member's words (and the provider's, in an error) shown as typed: no
    # mentions, masked links or headings of theirs render in the bot's embed.
    prompt = escape(" ".join(job.prompt.split()), PROMPT_PREVIEW, mentions=True)
    lines = [
        f"**#{job.id}** · <t:{stamp}:f> · {_STATUS.get(job.status, job.status)} · "
        + " · ".join(parts),
        f"> {prompt}",
    ]
    if link_valid(job, link_ttl, now):
        lines.append(f"🔗 [open the video]({job.result_url})")
    elif job.status == "completed" and job.result_url:
        lines.append("🔗 the link has expired")
    elif job.status in ("failed", "cancelled") and job.error:
        lines.append(f"-# {escape(' '.join(job.error.split()), 150)}")
    return "\n".join(lines)


def render_jobs(jobs: list[Job], offset: int, *, link_ttl: float, now: datetime | None) -> str:
    """A page of jobs, or a friendly note when there are none."""
    if not jobs:
        return "You have not made any videos yet. Try `/video`!"
    blocks: list[str] = []
    size = 0
    for job in jobs:
        block = render_job(job, link_ttl=link_ttl, now=now)
        size += len(block) + 2
        if size > DESCRIPTION_LIMIT - 50:
            break
        blocks.append(block)
    first, last = offset + 1, offset + len(blocks)
    return "\n\n".join(blocks) + f"\n\n-# Videos {first}-{last}, newest first."
