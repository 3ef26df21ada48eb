"""The job queue's slots and the push hooks across processes, on SQLite and PostgreSQL.

The job side (:class:`bot.jobs.slots.SlotQueue`, :class:`bot.providers.push.HookRegistry`)
on the store side of :mod:`bot.db.leases`.

Each "process" is its own Store open on one database (its own connections),
with its own :class:`SlotQueue` or :class:`HookRegistry`, exactly as two bot
processes would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import aiohttp

from bot.db import Store
from bot.jobs.leases import LeaseKeeper
from bot.jobs.slots import SlotQueue
from bot.providers.push import HookRegistry, HookServer
from tests.db.conftest import NOON, Reserve

LEASE = 60.0
POLL = 0.05  # how often a queue looks for slots freed by the other process


class Member:
    """One job going through a queue: it enters, is told its places, and ends when told.

    Like a job's run, it settles the job before it gives its slot back.
    """

    def __init__(
        self, queue: SlotQueue, store: Store, job_id: int, inside: set[int], peak: list[int]
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.entered = asyncio.Event()
        self.leave = asyncio.Event()
        self.places: list[int] = []
        self.placed = asyncio.Condition()
        self.task = asyncio.create_task(self._run(queue, inside, peak))

    def _moved(self, place: int) -> None:
        self.places.append(place)
        asyncio.get_running_loop().create_task(self._tell())

    async def _tell(self) -> None:
        async with self.placed:
            self.placed.notify_all()

    async def told(self, place: int) -> None:
        """Wait until the job was told ``place`` as its latest position."""
        async with self.placed:
            await self.placed.wait_for(lambda: self.places[-1:] == [place])

    async def _run(self, queue: SlotQueue, inside: set[int], peak: list[int]) -> None:
        async with queue.slot(self, self._moved, job_id=self.job_id):
            inside.add(self.job_id)
            peak[0] = max(peak[0], len(inside))
            self.entered.set()
            await self.leave.wait()
            inside.discard(self.job_id)
            assert await self.store.settle(self.job_id, "completed")


async def test_the_limit_and_the_order_hold_across_two_processes(
    store: Store, db_location: str, reserve: Reserve
) -> None:
    jobs = [await reserve(user_id=i, now=NOON + timedelta(seconds=i)) for i in range(1, 5)]
    inside: set[int] = set()
    peak = [0]
    async with Store.open(db_location) as other:
        a = SlotQueue(2, shared=store, poll=POLL)
        b = SlotQueue(2, shared=other, poll=POLL)
        # Jobs 1 and 3 are process a's, 2 and 4 process b's; members asked in that order.
        queues = {jobs[0].id: (a, store), jobs[1].id: (b, other)}
        queues |= {jobs[2].id: (a, store), jobs[3].id: (b, other)}
        for job_id, (_, s) in queues.items():
            assert await s.take_lease(job_id, "a" if s is store else "b", LEASE)
        members: dict[int, Member] = {}
        for job_id, (queue, _) in reversed(queues.items()):  # the last asked come first
            members[job_id] = Member(queue, s, job_id, inside, peak)
        one, two, three, four = (members[j.id] for j in jobs)
        await one.entered.wait()
        await two.entered.wait()
        # The two first asked run, in both processes; the others know their place in both.
        await three.told(1)
        await four.told(2)
        assert not three.entered.is_set() and not four.entered.is_set()
        assert (a.position(three), b.position(four)) == (1, 2)
        # A slot freed in b goes to a's job 3 (first in line), found by a's polling.
        two.leave.set()
        await three.entered.wait()
        await four.told(1)
        assert not four.entered.is_set()
        # And one freed in a goes to b's job 4.
        one.leave.set()
        await four.entered.wait()
        three.leave.set()
        four.leave.set()
        await asyncio.gather(*(m.task for m in members.values()))
    assert peak[0] == 2
    assert await store.running_slots() == 0 and await store.slot_queue() == []


async def test_a_member_cancelling_in_line_lets_the_next_one_through(
    store: Store, reserve: Reserve
) -> None:
    jobs = [await reserve(user_id=i, now=NOON + timedelta(seconds=i)) for i in range(1, 4)]
    for job in jobs:
        assert await store.take_lease(job.id, "a", LEASE)
    queue = SlotQueue(1, shared=store, poll=60.0)  # only local wakes: no polling needed
    inside: set[int] = set()
    peak = [0]
    first, second, third = (Member(queue, store, j.id, inside, peak) for j in jobs)
    await first.entered.wait()
    await third.told(2)
    second.task.cancel()
    await asyncio.gather(second.task, return_exceptions=True)
    assert await store.settle(jobs[1].id, "cancelled", refund=True)  # as a Cancel does
    first.leave.set()
    await third.entered.wait()
    third.leave.set()
    await asyncio.gather(first.task, third.task)
    assert peak[0] == 1 and queue.running == 0 and queue.waiting == 0


async def _post(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, json={}) as answer:
        return answer.status


def _keeper(store: Store, owner: str, wake: Callable[[set[str]], None]) -> LeaseKeeper:
    async def resume(jobs: object) -> int:
        return 0

    return LeaseKeeper(store=store, owner=owner, seconds=LEASE, runs=dict, resume=resume, wake=wake)


async def test_a_hook_call_reaching_another_process_wakes_the_job_where_it_runs(
    store: Store, db_location: str
) -> None:
    issuer = HookRegistry("https://a.example.test", shared=store, owner="a")
    hook = issuer.issue()
    await issuer.flush()
    async with Store.open(db_location) as other:
        elsewhere = HookRegistry("https://b.example.test", shared=other, owner="b")
        server = HookServer(elsewhere, "127.0.0.1", 0)
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.port}/hooks/"
            token = hook.url.rsplit("/", 1)[1]
            assert await _post(base + token) == 204
            assert await _post(base + token) == 410  # accepted once, wherever it lands
            assert await _post(base + "never-issued") == 404
        finally:
            await server.close()
    assert not hook.fired.is_set()  # the issuer learns it from the database
    rows = await store._all("SELECT token_hash, owner FROM job_hooks", ())
    assert [str(r[1]) for r in rows] == ["a"]
    assert all(token not in str(r[0]) for r in rows)  # only the hash is kept
    await _keeper(store, "a", issuer.wake).tick()
    assert hook.fired.is_set() and issuer.relayed == 1 and issuer.active == 0
    # A call to the issuer itself after that is refused: the token was used.
    assert await issuer.call(token) == 410
