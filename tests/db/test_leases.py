"""Leases on jobs across processes, on SQLite and on PostgreSQL.

"Processes" here are several Stores open on one database: each has its own
connections (its own writer thread on SQLite, its own pool on PostgreSQL),
exactly as two bot processes would.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db import Store
from bot.db.leases import hook_hash
from tests.db.conftest import NOON, Reserve

LEASE = 30.0
LATER = NOON + timedelta(seconds=LEASE + 1)


async def test_a_live_lease_keeps_the_job_and_an_expired_one_is_claimed_once(
    store: Store, db_location: str, reserve: Reserve
) -> None:
    job = await reserve()
    assert await store.take_lease(job.id, "a", LEASE, now=NOON)
    async with Store.open(db_location) as other:
        assert not await other.take_lease(job.id, "b", LEASE, now=NOON)  # a holds it
        assert await other.claim_expired("b", LEASE, now=NOON) == []
        assert await other.lease_holder(job.id, now=NOON) == "a"
        # a renews, so at a's old expiry it is still a's.
        [renewed] = await store.renew_leases("a", LEASE, now=NOON + timedelta(seconds=20))
        assert renewed.job_id == job.id and renewed.cancel_by is None
        assert await other.claim_expired("b", LEASE, now=LATER) == []
        # a stops renewing (it died): b takes it, once, with everything needed to resume.
        much_later = NOON + timedelta(seconds=20 + LEASE + 1)
        [claimed] = await other.claim_expired("b", LEASE, now=much_later)
        assert claimed.id == job.id and claimed.interaction_token == "tok-secret"
        assert await other.claim_expired("b", LEASE, now=much_later) == []
        assert await store.claim_expired("a", LEASE, now=much_later) == []
        assert await other.lease_holder(job.id, now=much_later) == "b"
        # a, back from the dead, renews nothing: the job is no longer its own.
        assert await store.renew_leases("a", LEASE, now=much_later) == []


async def test_concurrent_claimers_take_each_job_exactly_once(
    store: Store, db_location: str, reserve: Reserve
) -> None:
    jobs = [await reserve(user_id=n) for n in range(12)]
    for job in jobs:
        assert await store.take_lease(job.id, "dead", LEASE, now=NOON)
    async with Store.open(db_location) as b, Store.open(db_location) as c:
        results = await asyncio.gather(
            *(
                s.claim_expired(name, LEASE, limit=3, now=LATER)
                for _ in range(6)
                for s, name in ((store, "a"), (b, "b"), (c, "c"))
            )
        )
    claimed = [job.id for batch in results for job in batch]
    assert sorted(claimed) == sorted(j.id for j in jobs)  # every one, none twice


async def test_a_job_never_leased_is_claimed_only_once_older_than_a_lease(
    store: Store, reserve: Reserve
) -> None:
    job = await reserve()  # reserved at NOON; its process is about to take the lease
    assert await store.claim_expired("b", LEASE, now=NOON + timedelta(seconds=5)) == []
    [claimed] = await store.claim_expired("b", LEASE, now=LATER)
    assert claimed.id == job.id


async def test_a_released_lease_is_claimable_at_once_and_final_jobs_never(
    store: Store, reserve: Reserve
) -> None:
    running, done = await reserve(user_id=1), await reserve(user_id=2)
    for job in (running, done):
        assert await store.take_lease(job.id, "a", LEASE, now=NOON)
    assert await store.settle(done.id, "completed", now=NOON)
    assert await store.release_leases("a") == 1
    [claimed] = await store.claim_expired("b", LEASE, now=NOON)
    assert claimed.id == running.id


async def test_a_job_still_ending_keeps_its_lease_when_the_others_are_released(
    store: Store, reserve: Reserve
) -> None:
    ending, paused, other = [await reserve(user_id=n) for n in (1, 2, 3)]
    for job in (ending, paused, other):
        assert await store.take_lease(job.id, "a", LEASE, now=NOON)
    assert await store.release_leases("a", keep=[ending.id, other.id]) == 1
    [claimed] = await store.claim_expired("b", LEASE, now=NOON)
    assert claimed.id == paused.id  # the kept ones wait for their leases to run out
    later = {j.id for j in await store.claim_expired("c", LEASE, now=LATER)}
    assert {ending.id, other.id} <= later  # (b's own lease has run out by then too)


async def test_a_cancel_asked_elsewhere_reaches_the_holder_at_its_next_renewal(
    store: Store, db_location: str, reserve: Reserve
) -> None:
    job = await reserve()
    assert await store.take_lease(job.id, "holder", LEASE, now=NOON)
    async with Store.open(db_location) as other:
        assert await other.ask_cancel(job.id, 77, keep_credit=True)
        assert not await other.ask_cancel(job.id, 78, keep_credit=False)  # the first one stands
    [renewed] = await store.renew_leases("holder", LEASE, now=NOON)
    assert (renewed.cancel_by, renewed.keep_credit) == (77, True)
    assert await store.settle(job.id, "cancelled", now=NOON, refund=False)
    assert not await store.ask_cancel(job.id, 77, keep_credit=False)  # final: nothing to ask


async def test_slots_hold_across_processes_in_the_order_members_asked(
    store: Store, db_location: str, reserve: Reserve
) -> None:
    first = await reserve(user_id=1, now=NOON)
    second = await reserve(user_id=2, now=NOON + timedelta(seconds=1))
    third = await reserve(user_id=3, now=NOON + timedelta(seconds=2))
    async with Store.open(db_location) as other:
        for s, job, owner in ((store, first, "a"), (other, second, "b"), (store, third, "a")):
            assert await s.take_lease(job.id, owner, LEASE, now=NOON)
        # The third may not jump the second, though a slot is free for one of them.
        assert await store.take_slot(first.id, 2, now=NOON)
        assert not await store.take_slot(third.id, 2, now=NOON)
        assert await store.slot_position(third.id, now=NOON) == 2
        assert await other.slot_position(second.id, now=NOON) == 1
        assert await other.take_slot(second.id, 2, now=NOON)
        assert not await store.take_slot(third.id, 2, now=NOON)  # two of two held
        assert await store.running_slots(now=NOON) == 2
        assert await other.settle(second.id, "completed", now=NOON)  # an ended job frees its slot
        assert await store.take_slot(third.id, 2, now=NOON)
        await store.free_slot(third.id)  # paused (shutdown): waiting again, first in line
        assert await store.slot_position(third.id, now=NOON) == 1
        # A dead process's slot frees itself when its lease expires.
        assert await store.running_slots(now=LATER) == 0


async def test_a_hook_call_reaching_any_process_is_taken_once_by_its_issuer(
    store: Store, db_location: str
) -> None:
    await store.add_hook("secret-token", "a", now=NOON)
    async with Store.open(db_location) as other:
        assert await other.fire_hook("secret-token", now=NOON) == "fired"
        assert await other.fire_hook("secret-token", now=NOON) == "used"
        assert await other.fire_hook("never-issued", now=NOON) == "unknown"
    assert await store.take_fired_hooks("b") == set()
    assert await store.take_fired_hooks("a") == {hook_hash("secret-token")}
    assert await store.take_fired_hooks("a") == set()
    assert await store.forget_hooks(LATER) == 1
