"""Admission on its own: each refusal says why, charges nothing; an accepted job is reserved."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.db import Store
from bot.errors import Refusal
from bot.jobs.admission import admit
from bot.rules.prompt_filter import PromptFilter
from tests.jobs.conftest import CHANNEL, GUILD, USER, make_settings, request_for, used

URL = "http://127.0.0.1:9/photo.png"


async def refusal(store: Store, settings_changes: dict[str, Any], **request: Any) -> Refusal:
    settings = make_settings(**settings_changes)
    with pytest.raises(Refusal) as refused:
        await admit(store, settings, request_for(URL, **request), protocol="tiny")
    assert await used(store) == 0  # nothing charged
    return refused.value


async def test_prompt_filter(store: Store) -> None:
    blocked = PromptFilter.from_settings("forbidden thing", None)
    refused = await refusal(store, {"prompt_filter": blocked}, prompt="a forbidden thing here")
    assert refused.reason == "prompt" and "forbidden" not in str(refused)  # not echoed


async def test_blocked_member(store: Store) -> None:
    await store.set_blocked(GUILD, USER, True, actor_id=1, reason="spam")
    refused = await refusal(store, {})
    assert refused.reason == "blocked" and "Reason: spam" in str(refused)


async def test_channel_not_allowed(store: Store) -> None:
    await store.change_channels(GUILD, "add", CHANNEL + 1, actor_id=1)
    refused = await refusal(store, {})
    assert refused.reason == "channel" and f"<#{CHANNEL + 1}>" in str(refused)
    # a thread of an allowed channel is allowed
    job = await admit(
        store, make_settings(), request_for(URL, parent_channel_id=CHANNEL + 1), protocol="tiny"
    )
    assert job.status == "queued"


async def test_quota(store: Store) -> None:
    refused = await refusal(store, {"quota_per_day": 1}, cost=2)
    assert refused.reason == "quota" and "costs 2 credits" in str(refused)


async def test_jobs_in_progress(store: Store) -> None:
    settings = make_settings(max_jobs_per_user=1)
    await admit(store, settings, request_for(URL), protocol="tiny")
    with pytest.raises(Refusal) as refused:
        await admit(store, settings, request_for(URL), protocol="tiny")
    assert refused.value.reason == "running" and "limit is 1" in str(refused.value)
    assert await used(store) == 1  # only the first


async def test_budget(store: Store) -> None:
    refused = await refusal(store, {"budget_daily_credits": 0})
    assert refused.reason == "budget" and "daily video budget" in str(refused)


async def test_accepted_job_costs_what_the_table_says(store: Store) -> None:
    request = replace(request_for(URL), cost=None)
    job = await admit(store, make_settings(), request, protocol="tiny")
    assert job.cost == 1 and await used(store) == 1


async def test_accepted_job_keeps_its_interaction_token_until_it_settles(store: Store) -> None:
    job = await admit(
        store,
        make_settings(),
        request_for(URL),
        protocol="tiny",
        interaction_token="tok-secret",
        application_id=99,
    )
    assert (job.interaction_token, job.application_id) == ("tok-secret", 99)
    assert "tok-secret" not in repr(job)
    stored = await store.get_job(job.id)
    assert stored is not None and stored.interaction_token == "tok-secret"
    await store.settle(job.id, "completed")
    settled = await store.get_job(job.id)
    assert settled is not None and settled.interaction_token is None  # nothing to leak later
