"""Text of members and admins shown by the job path renders as typed: `/history`, block reasons."""

from __future__ import annotations

import re

import pytest

from bot.db import Store
from bot.errors import Refusal
from bot.jobs.admission import admit
from bot.jobs.history import render_job
from tests.jobs.conftest import GUILD, USER, make_settings, request_for, reserve

URL = "http://127.0.0.1:9/photo.png"
RAW_PING = re.compile(r"(?<!\\)<@&42>")
TRAP = "[free nitro](https://evil.example) <@&42> # Big **bold**"


async def test_history_shows_a_prompt_as_typed(store: Store) -> None:
    job = await reserve(store, request_for(URL, prompt=TRAP))
    text = render_job(job, link_ttl=3600)
    assert "[free nitro](https://evil.example)" not in text  # no masked link
    assert not RAW_PING.search(text)  # no role ping: shown as typed
    assert "\\[free nitro\\]" in text and "\\*\\*bold\\*\\*" in text


async def test_a_block_reason_is_shown_as_typed(store: Store) -> None:
    await store.set_blocked(GUILD, USER, True, actor_id=1, reason=TRAP)
    with pytest.raises(Refusal) as refused:
        await admit(store, make_settings(), request_for(URL), protocol="tiny")
    text = str(refused.value)
    assert "Reason:" in text and "[free nitro](https://evil.example)" not in text
    assert not RAW_PING.search(text) and "\\*\\*bold\\*\\*" in text
