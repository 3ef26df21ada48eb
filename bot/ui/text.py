"""Pure rendering of what members see: job headers, progress, results, failures, quota."""

from __future__ import annotations

from datetime import datetime

from bot.ui.markdown import escape, safe_url
from bot.ui.progress import ProgressState, render_line

CONTENT_LIMIT = 2000
PROMPT_PREVIEW = 600
QUOTE_LINES = 12  # lines of a quoted prompt; the rest are joined onto the last
REASON_LIMIT = 700  # with the header and prompt preview, well inside 2000


def quote(text: str, limit: int = PROMPT_PREVIEW) -> str:
    """Member text as a Markdown block quote of at most ``limit`` escaped characters.

    Markdown in it shows as typed (see :mod:`bot.ui.markdown`), mentions included;
    blank lines are dropped and at most ``QUOTE_LINES`` lines are kept, so the
    ``> `` prefixes cannot push the message past Discord's limit.
    """
    escaped = escape(text.strip(), limit, mentions=True)
    lines = [line for line in escaped.splitlines() if line.strip()]
    if len(lines) > QUOTE_LINES:
        lines[QUOTE_LINES - 1 :] = [" ".join(lines[QUOTE_LINES - 1 :])]
    return "\n".join("> " + line for line in lines or [""])


def header(user_id: int, options: dict[str, object]) -> str:
    """First lines of every job message: who asked, with which options, and the prompt."""
    parts = [
        f"{options.get('duration')}s",
        str(options.get("orientation")),
        str(options.get("model")),
    ]
    if options.get("hd"):
        parts.append("HD")
    cost = options.get("cost")
    if isinstance(cost, int) and cost != 1:  # weighted costs (COST_TABLE): say what it costs
        parts.append(f"{cost} credits")
    return f"🎬 **Video for <@{user_id}>** · {' · '.join(parts)}"


def _fit(text: str) -> str:
    return text if len(text) <= CONTENT_LIMIT else text[: CONTENT_LIMIT - 1] + "…"


def progress_message(
    user_id: int, prompt: str, options: dict[str, object], state: ProgressState
) -> str:
    """The public progress message."""
    return _fit(f"{header(user_id, options)}\n{quote(prompt)}\n{render_line(state)}")


def success_message(
    user_id: int,
    prompt: str,
    options: dict[str, object],
    *,
    url: str | None,
    attached: bool,
    elapsed: str,
) -> str:
    """The finished job: prompt, the link, and a note when the file could not be attached."""
    lines = [header(user_id, options), quote(prompt), f"✅ Done in {elapsed}."]
    url = safe_url(url) if url else None  # the provider's link, plain: never a masked one
    if url:
        lines.append(f"🔗 {url}")
    if not attached:
        if url:
            lines.append("The video is too large to upload here, so it is shared as a link.")
        else:
            lines.append(
                "⚠️ The video is too large to upload here and the service gave no public link."
            )
    return _fit("\n".join(lines))


NOT_REFUNDED = (
    "The video had already been sent to the provider, which bills it, "
    "so the credit was not refunded."
)


def failure_message(
    user_id: int, prompt: str, options: dict[str, object], reason: str, *, refunded: bool = True
) -> str:
    """The failed job: why, and whether the credit came back (a long reason is shortened).

    The reason may carry the provider's words, so its Markdown is shown as typed;
    a mention the bot put there (who cancelled) still renders. ``refunded`` is
    False for a Cancel confirmed after the job was sent to the provider.
    """
    reason = escape(reason.strip(), REASON_LIMIT)
    credit = "Your credit was refunded; nothing was charged." if refunded else NOT_REFUNDED
    return _fit(f"{header(user_id, options)}\n{quote(prompt)}\n❌ {reason}\n{credit}")


def cancel_confirmation(own: bool) -> str:
    """What a Cancel of a job already sent to the provider asks before it goes ahead."""
    whose = "your credit" if own else "the member's credit"
    return (
        "⚠️ This video is already rendering at the provider. Cancelling stops it here, "
        f"but {whose} will not come back (the provider bills the render). Cancel anyway?"
    )


def quota_message(
    used: int,
    limit: int,
    running: int,
    resets_at: datetime,
    *,
    extra: int = 0,
    blocked: bool = False,
) -> str:
    """The ``/quota`` answer; ``extra`` credits are the member's on top of the daily ones."""
    remaining = max(0, limit - used)
    stamp = int(resets_at.timestamp())
    lines = [
        f"You have used **{used}** of **{limit}** credits today; **{remaining}** left.",
        f"Your credits reset <t:{stamp}:R> (<t:{stamp}:f>).",
    ]
    if extra:
        lines.append(f"You also have **{extra}** extra credits, used once today's run out.")
    if blocked:
        lines.append("⛔ You are not allowed to make videos in this server.")
    if running:
        lines.append(f"You have {running} video{'s' if running != 1 else ''} in progress.")
    return "\n".join(lines)
