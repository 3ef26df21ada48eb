"""Poll pacing: provider hints, the job's expected end, push, the deadline.

Times are virtual (``now`` is passed in), so these tests take no wall time.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from bot.config import ProviderSettings
from bot.providers.http import END_SLACK, PollClock


def settings(**overrides: float) -> ProviderSettings:
    values: dict[str, float] = {"poll_interval": 2.0, "poll_max_interval": 8.0}
    values.update(overrides)
    return ProviderSettings(protocol="videos", base_url="http://127.0.0.1:9", api_key="k", **values)  # type: ignore[arg-type]


def clock(wake: asyncio.Event | None = None, **overrides: float) -> PollClock:
    return PollClock(settings(**overrides), started=0.0, wake=wake)


def test_without_progress_backs_off_and_a_hint_wins() -> None:
    c = clock()
    assert [c.next_delay(now=0.0) for _ in range(4)] == [2.0, 4.0, 8.0, 8.0]
    assert clock(poll_interval=1.0).next_delay(1.5, now=0.0) == 1.5
    assert clock().next_delay(1000.0, now=0.0) == 32.0  # an absurd hint is capped


def test_far_from_done_polls_at_the_cap_even_when_the_hint_is_short() -> None:
    c = clock()
    c.observe(10, now=0.0)
    c.observe(20, now=10.0)  # 1% a second: about 80 s to go
    assert c.remaining(now=10.0) == pytest.approx(80.0)
    assert c.next_delay(1.0, now=10.0) == 8.0


def test_near_the_end_sleeps_until_just_after_the_expected_end() -> None:
    c = clock(poll_interval=0.5)
    c.observe(10, now=0.0)
    c.observe(90, now=10.0)  # 8% a second: at most 1.25 s to go ("90%" may be 90.9%)
    assert c.next_delay(now=10.0) == pytest.approx(1.25 + END_SLACK)
    # The provider's hint (or poll_interval) is a floor, even near the end.
    assert c.next_delay(3.0, now=10.0) == 3.0


def test_a_slow_percent_aims_no_further_than_the_floor_past_the_earliest_end() -> None:
    c = clock(poll_interval=1.0, poll_max_interval=30.0)
    c.observe(10, now=0.0)
    c.observe(12, now=20.0)  # 0.1% a second: one percent is 10 s of uncertainty
    c.observe(99, now=890.0)
    # The end is between 0 and 10 s away: aim 1 s (the floor) past the earliest.
    assert c.next_delay(now=890.0) == pytest.approx(1.0 + END_SLACK, abs=0.01)


def test_one_hop_before_the_end_when_just_beyond_the_cap() -> None:
    c = clock()
    c.observe(5, now=0.0)
    c.observe(55, now=10.0)  # 5% a second: 9 s to go, a little more than the 8 s cap
    assert c.next_delay(now=10.0) == pytest.approx(7.0)  # leaves one poll_interval
    assert c.next_delay(now=17.0) == pytest.approx(2.0 + END_SLACK)  # lands just after


def test_long_overdue_estimate_falls_back_to_the_cap() -> None:
    c = clock()
    c.observe(10, now=0.0)
    c.observe(50, now=10.0)  # "done" expected at about t=22.4
    assert c.next_delay(now=40.0) == 8.0


def test_never_past_the_deadline() -> None:
    c = clock(job_timeout=5.0)
    assert c.next_delay(30.0, now=4.0) == pytest.approx(1.0)
    assert c.next_delay(now=6.0) == 0.0


def test_a_simulated_job_needs_far_fewer_polls_and_ends_no_later_than_fixed_polling() -> None:
    """A 120 s job with linear progress, polled with a 1 s hint (what the reference client does)."""
    duration, hint = 120.0, 1.0

    def percent(t: float) -> int:
        return min(100, math.floor(t / duration * 100))

    c, t, polls = clock(poll_interval=1.0), 0.0, 0
    while True:
        t += c.next_delay(hint, now=t)
        polls += 1
        if t >= duration:
            break
        c.observe(percent(t), now=t)
    fixed_polls = math.ceil(duration / hint)
    assert polls * 4 < fixed_polls  # at least four times fewer requests
    assert t - duration <= hint  # the end is seen no later than with fixed 1 s polling


async def test_push_stretches_polls_and_wakes_the_waiter_at_once() -> None:
    wake = asyncio.Event()
    c = PollClock(settings(poll_interval=0.5), wake=wake)  # the real clock: wait() reads it
    assert c.next_delay(0.5) == 8.0  # with push, polls are a slow fallback
    wake.set()  # the provider called the hook
    await asyncio.wait_for(c.wait(0.5), 5)  # returns at once, not after the 8 s fallback
    assert c.pushed
    assert c.next_delay(0.5) == 0.5  # push spent: ordinary polling again


@pytest.mark.parametrize("hint", [0.0, 0.001, -1.0])
def test_a_tiny_hint_is_held_to_the_poll_interval(hint: float) -> None:
    assert clock().next_delay(hint, now=0.0) == 2.0
    c = clock(poll_interval=0.5)
    c.observe(10, now=0.0)
    c.observe(90, now=10.0)  # near the end: the floor still applies
    assert c.next_delay(hint, now=11.5) >= 0.5
