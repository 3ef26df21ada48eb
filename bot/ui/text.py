"""Pure rendering of what members see: job headers, progress, results, failures, quota."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.i18n import DEFAULT_LOCALE, N_, pick_locale, t, tn, translate_known
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


def job_locale(options: Mapping[str, object]) -> str:
    """The language of a job's public messages: the server's, kept with its options."""
    value = options.get("locale")
    return pick_locale(value) if isinstance(value, str) else DEFAULT_LOCALE


ORIENTATIONS = {"portrait": N_("portrait"), "landscape": N_("landscape")}


def option_parts(options: Mapping[str, object], locale: str) -> list[str]:
    """A job's options as short labels: duration, orientation, model, and HD when asked."""
    orientation = str(options.get("orientation"))
    parts = [
        t(locale, "{seconds}s", seconds=options.get("duration")),
        t(locale, ORIENTATIONS[orientation]) if orientation in ORIENTATIONS else orientation,
        str(options.get("model")),
    ]
    if options.get("hd"):
        parts.append("HD")
    return parts


def header(user_id: int, options: dict[str, object]) -> str:
    """First lines of every job message: who asked, with which options, and the prompt."""
    locale = job_locale(options)
    parts = option_parts(options, locale)
    cost = options.get("cost")
    if isinstance(cost, int) and cost != 1:  # weighted costs (COST_TABLE): say what it costs
        parts.append(tn(locale, "{n} credit", "{n} credits", cost))
    title = t(locale, "Video for {member}", member=f"<@{user_id}>")
    return f"🎬 **{title}** · {' · '.join(parts)}"


def _fit(text: str) -> str:
    return text if len(text) <= CONTENT_LIMIT else text[: CONTENT_LIMIT - 1] + "…"


def progress_message(
    user_id: int, prompt: str, options: dict[str, object], state: ProgressState
) -> str:
    """The public progress message."""
    line = render_line(state, job_locale(options))
    return _fit(f"{header(user_id, options)}\n{quote(prompt)}\n{line}")


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
    locale = job_locale(options)
    lines = [
        header(user_id, options),
        quote(prompt),
        t(locale, "✅ Done in {elapsed}.", elapsed=elapsed),
    ]
    url = safe_url(url) if url else None  # the provider's link, plain: never a masked one
    if url:
        lines.append(f"🔗 {url}")
    if not attached:
        if url:
            lines.append(
                t(locale, "The video is too large to upload here, so it is shared as a link.")
            )
        else:
            lines.append(
                t(
                    locale,
                    "⚠️ The video is too large to upload here and the service gave no public link.",
                )
            )
    return _fit("\n".join(lines))


REFUNDED = N_("Your credit was refunded; nothing was charged.")
NOT_REFUNDED = N_(
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
    locale = job_locale(options)
    reason = escape(translate_known(locale, reason.strip()), REASON_LIMIT)
    credit = t(locale, REFUNDED if refunded else NOT_REFUNDED)
    return _fit(f"{header(user_id, options)}\n{quote(prompt)}\n❌ {reason}\n{credit}")


def cancel_confirmation(own: bool, locale: str = DEFAULT_LOCALE) -> str:
    """What a Cancel of a job already sent to the provider asks before it goes ahead."""
    if own:
        return t(
            locale,
            "⚠️ This video is already rendering at the provider. Cancelling stops it here, "
            "but your credit will not come back (the provider bills the render). Cancel anyway?",
        )
    return t(
        locale,
        "⚠️ This video is already rendering at the provider. Cancelling stops it here, "
        "but the member's credit will not come back (the provider bills the render). "
        "Cancel anyway?",
    )


def quota_message(
    used: int,
    limit: int,
    running: int,
    resets_at: datetime,
    *,
    extra: int = 0,
    blocked: bool = False,
    locale: str = DEFAULT_LOCALE,
) -> str:
    """The ``/quota`` answer; ``extra`` credits are the member's on top of the daily ones."""
    remaining = max(0, limit - used)
    stamp = int(resets_at.timestamp())
    lines = [
        tn(
            locale,
            "You have used **{used}** of **{n}** credit today; **{remaining}** left.",
            "You have used **{used}** of **{n}** credits today; **{remaining}** left.",
            limit,
            used=used,
            remaining=remaining,
        ),
        t(
            locale,
            "Your credits reset {relative} ({date}).",
            relative=f"<t:{stamp}:R>",
            date=f"<t:{stamp}:f>",
        ),
    ]
    if extra:
        lines.append(
            tn(
                locale,
                "You also have **{n}** extra credit, used once today's run out.",
                "You also have **{n}** extra credits, used once today's run out.",
                extra,
            )
        )
    if blocked:
        lines.append(t(locale, "⛔ You are not allowed to make videos in this server."))
    if running:
        lines.append(
            tn(
                locale,
                "You have {n} video in progress.",
                "You have {n} videos in progress.",
                running,
            )
        )
    return "\n".join(lines)
