"""Accepting a `/video` job: the operator's rules, then one atomic reservation.

Called by :meth:`bot.jobs.JobService.accept`. In order: the prompt filter, then
in a server the member's block, the allowed channels and the daily limit that
applies (see :mod:`bot.rules.policy`); then :meth:`~bot.db.store.Store.reserve` checks
the member's credits (extra credits included), the jobs in progress and the
daily budget caps inside the same ``BEGIN IMMEDIATE`` transaction that reserves,
so nothing is ever half-charged. Every refusal is a :class:`Refusal` whose
message says what was needed and what is left, without echoing a blocked prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from bot.config import Settings
from bot.db import BudgetExceeded, Job, QuotaExceeded, Store, TooManyRunning
from bot.db.errors import RenderLimitExceeded
from bot.errors import Refusal
from bot.i18n import Msg, msg, nmsg
from bot.jobs.request import JobRequest
from bot.ops.logs import bind_job
from bot.rules.costs import format_money
from bot.rules.policy import (
    ResolvedLimit,
    Standing,
    channel_allowed,
    member_limit,
    spend_caps,
    usable_extra,
)
from bot.ui.markdown import escape

log = logging.getLogger(__name__)

MAX_CHANNELS_SHOWN = 10


async def admit(
    store: Store,
    settings: Settings,
    request: JobRequest,
    *,
    protocol: str,
    interaction_token: str | None = None,
    application_id: int | None = None,
) -> Job:
    """Check the rules and reserve the job's credits; raises :class:`Refusal` when refused.

    ``interaction_token`` and ``application_id`` (the `/video` interaction's)
    are stored with the job, until it settles: any process that resumes it edits
    its message through that webhook while the token lives.
    """
    cost = request.credits(settings.cost_table)
    if cost < 0:
        raise ValueError("a job cannot cost a negative number of credits")
    matched = settings.prompt_filter.match(request.prompt)
    if matched is not None:
        log.info("refused a prompt of user %s: blocked pattern #%d", request.user_id, matched + 1)
        raise Refusal(
            "prompt",
            msg(
                "Your prompt contains words or phrases that are not allowed here. "
                "Please describe the video differently."
            ),
        )
    limit, use_extra, guild = settings.quota_per_day, False, None
    if request.guild_id is not None:
        snapshot = await store.policy_snapshot(request.guild_id, request.user_id, request.role_ids)
        if snapshot.member.blocked:
            reason = snapshot.member.block_reason
            blocked = msg("You are not allowed to make videos in this server.")
            if reason:  # an admin's words, shown as typed (no mentions or masked links)
                blocked = msg(
                    "You are not allowed to make videos in this server. Reason: {reason}",
                    reason=escape(reason, 300, mentions=True),
                )
            raise Refusal("blocked", blocked)
        if not channel_allowed(snapshot.channels, request.channel_id, request.parent_channel_id):
            raise Refusal("channel", channels_message(snapshot.channels))
        limit = member_limit(snapshot, settings.limits).credits
        use_extra, guild = True, snapshot.guild
    price = settings.price_table.micros(request.model.name, request.duration, request.hd)
    try:
        job = await store.reserve(
            user_id=request.user_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            prompt=request.prompt,
            options=request.options,
            image_url=request.image_url,
            protocol=protocol,
            cost=cost,
            daily_limit=limit,
            max_running=settings.max_jobs_per_user,
            price_micros=price,
            use_extra=use_extra,
            max_extra=settings.server_max_extra_credits,
            caps=spend_caps(settings.limits, guild),
            refund_allowance=settings.refund_allowance_per_day,
            interaction_token=interaction_token,
            application_id=application_id,
        )
    except RenderLimitExceeded as exc:
        log.info("render gate for user %s: %s", request.user_id, exc)
        raise Refusal("renders", renders_message(exc)) from None
    except QuotaExceeded as exc:
        raise Refusal("quota", quota_message(exc)) from None
    except TooManyRunning as exc:
        raise Refusal(
            "running",
            nmsg(
                "You already have {n} video in progress (the limit is {limit}). "
                "Please wait for one to finish.",
                "You already have {n} videos in progress (the limit is {limit}). "
                "Please wait for one to finish.",
                exc.running,
                limit=exc.limit,
            ),
        ) from None
    except BudgetExceeded as exc:
        log.info("budget cap reached: %s", exc)
        raise Refusal("budget", budget_message(exc, settings.currency)) from None
    bind_job(job.id)  # this task's later log lines, and the job's task, carry the id
    return job


async def standing(
    store: Store,
    settings: Settings,
    *,
    user_id: int,
    guild_id: int | None,
    role_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> Standing:
    """What ``/quota`` shows: the limit that applies in ``guild_id`` (the bot's outside servers)."""
    limit = ResolvedLimit(settings.quota_per_day, "bot")
    extra, blocked = 0, False
    if guild_id is not None:
        snapshot = await store.policy_snapshot(guild_id, user_id, role_ids)
        limit = member_limit(snapshot, settings.limits)
        extra = usable_extra(snapshot.member.extra_credits, settings.limits)
        blocked = snapshot.member.blocked
    usage = await store.usage(user_id, limit.credits, now=now)
    running = await store.running_count(user_id)
    return Standing(usage, limit, extra, running, blocked)


def credits(n: int) -> Msg:
    """``1 credit``, ``3 credits``, in the reader's language."""
    return nmsg("{n} credit", "{n} credits", n)


def quota_message(exc: QuotaExceeded) -> Msg:
    """Why a job was refused for the member's credits: what it needed, what is left."""
    when = f"<t:{int(exc.resets_at.timestamp())}:R>"
    if exc.remaining == 0:
        if exc.cost != 1:
            return nmsg(
                "You have used all {n} of your credit for today. This video costs {cost}. "
                "Your credits reset {when}.",
                "You have used all {n} of your credits for today. This video costs {cost}. "
                "Your credits reset {when}.",
                exc.limit,
                cost=credits(exc.cost),
                when=when,
            )
        return nmsg(
            "You have used all {n} of your credit for today. Your credits reset {when}.",
            "You have used all {n} of your credits for today. Your credits reset {when}.",
            exc.limit,
            when=when,
        )
    if exc.extra:
        return msg(
            "This video costs {cost}, but you have only {left} left today "
            "(with {extra} extra). Your credits reset {when}.",
            cost=credits(exc.cost),
            left=credits(exc.remaining),
            extra=credits(exc.extra),
            when=when,
        )
    return msg(
        "This video costs {cost}, but you have only {left} left today. Your credits reset {when}.",
        cost=credits(exc.cost),
        left=credits(exc.remaining),
        when=when,
    )


def renders_message(exc: RenderLimitExceeded) -> Msg:
    """Why a job was refused by the render gate: too many refunded videos today."""
    return msg(
        "You have had too many failed or cancelled videos today: the video service "
        "still makes (and bills) those, so no more videos can be made for you today, "
        "even with credits left. This resets {when}.",
        when=f"<t:{int(exc.resets_at.timestamp())}:R>",
    )


def budget_message(exc: BudgetExceeded, currency: str) -> Msg:
    """Why a job was refused for a daily budget cap; money amounts stay with the operator."""
    when = f"<t:{int(exc.resets_at.timestamp())}:R>"
    ours = exc.scope == "bot"
    if exc.unit == "credits":
        if ours:
            return nmsg(
                "This video needs {needed}, but only {n} credit is left in the bot's "
                "daily video budget. The budget starts afresh {when}.",
                "This video needs {needed}, but only {n} credits are left in the bot's "
                "daily video budget. The budget starts afresh {when}.",
                exc.left,
                needed=credits(exc.needed),
                when=when,
            )
        return nmsg(
            "This video needs {needed}, but only {n} credit is left in this server's "
            "daily video budget. The budget starts afresh {when}.",
            "This video needs {needed}, but only {n} credits are left in this server's "
            "daily video budget. The budget starts afresh {when}.",
            exc.left,
            needed=credits(exc.needed),
            when=when,
        )
        log.info(
            "money cap: %s spent of %s, job needs %s",
            format_money(exc.spent, currency),
            format_money(exc.cap, currency),
            format_money(exc.needed, currency),
        )
    if ours:
        return msg(
            "This video would go over the bot's daily spending limit. "
            "The budget starts afresh {when}.",
            when=when,
        )
    return msg(
        "This video would go over this server's daily spending limit. "
        "The budget starts afresh {when}.",
        when=when,
    )


def channels_message(channels: tuple[int, ...]) -> Msg:
    """Where `/video` may be used instead."""
    shown = ", ".join(f"<#{c}>" for c in channels[:MAX_CHANNELS_SHOWN])
    if len(channels) > MAX_CHANNELS_SHOWN:
        return msg(
            "`/video` can only be used in {channels} and others in this server.", channels=shown
        )
    return msg("`/video` can only be used in {channels} in this server.", channels=shown)
