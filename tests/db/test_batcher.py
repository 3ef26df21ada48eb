"""The batcher's own rules: who rides in which batch, cancellation, failures, closing.

The database is replaced by a function that records each batch and waits
for the test's word, so the order of events is the test's, not the clock's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from bot.db.batcher import Batcher, Ticket
from bot.db.errors import StoreBusy, StoreError


class Server:
    """Records each batch; answers when released; fails when told to."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.tickets: list[Ticket[str]] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.reject: set[str] = set()
        self.error: StoreError | None = None

    async def run(self, tickets: Sequence[Ticket[str]]) -> list[str | BaseException]:
        self.tickets += tickets
        self.arrived.set()
        await self.release.wait()
        # As a plan does: the requests still wanted when it starts running.
        batch = [ticket.request for ticket in tickets if not ticket.abandoned]
        self.batches.append(batch)
        if self.error is not None:
            raise self.error
        if self.reject & set(batch):
            error = StoreError("database error: invalid byte sequence")
            error.__cause__ = asyncpg.CharacterNotInRepertoireError("invalid byte sequence")
            raise error
        requests = [ticket.request for ticket in tickets]
        return [ValueError(r) if r.startswith("bad") else r.upper() for r in requests]


async def started(batcher: Batcher[str, str], request: str) -> asyncio.Task[str]:
    task = asyncio.ensure_future(batcher.submit(request))
    await asyncio.sleep(0)  # it reaches the queue
    return task


async def test_requests_that_arrive_while_a_batch_is_out_go_together_next() -> None:
    server = Server()
    batcher: Batcher[str, str] = Batcher(server.run)
    first = await started(batcher, "a")
    await server.arrived.wait()
    rest = [await started(batcher, r) for r in ("b", "bad c", "d")]

    server.release.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)

    assert server.batches == [["a"], ["b", "bad c", "d"]]
    assert results[:2] == ["A", "B"] and results[3] == "D"
    assert isinstance(results[2], ValueError)  # its own outcome, raised in its caller alone
    assert (batcher.batches, batcher.requests) == (2, 4)


async def test_a_batch_is_at_most_max_batch_long() -> None:
    server = Server()
    server.release.set()
    batcher: Batcher[str, str] = Batcher(server.run, max_batch=2)

    results = await asyncio.gather(*(batcher.submit(r) for r in "abcde"))

    assert results == list("ABCDE")
    assert server.batches == [["a", "b"], ["c", "d"], ["e"]]


async def test_a_caller_cancelled_before_its_batch_left_is_not_sent() -> None:
    server = Server()
    batcher: Batcher[str, str] = Batcher(server.run)
    first = await started(batcher, "a")
    await server.arrived.wait()
    dropped = await started(batcher, "b")
    kept = await started(batcher, "c")

    dropped.cancel()
    await asyncio.wait([dropped])
    server.release.set()

    assert await first == "A" and await kept == "C"
    assert dropped.cancelled()
    assert server.batches == [["a"], ["c"]]


async def test_a_caller_cancelled_while_its_batch_is_out_returns_only_after_the_batch() -> None:
    server = Server()
    batcher: Batcher[str, str] = Batcher(server.run)
    caller = await started(batcher, "a")
    await server.arrived.wait()

    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done()  # the transaction is still at the server
    server.release.set()
    await asyncio.wait([caller])

    assert caller.cancelled()
    # Its batch had not started running: the request was left out of it.
    assert [t.abandoned for t in server.tickets] == [True]
    assert server.batches == [[]]


async def test_a_batch_the_server_rejects_runs_each_request_alone() -> None:
    server = Server()
    server.release.set()
    server.reject = {"poison"}
    batcher: Batcher[str, str] = Batcher(server.run)

    requests = ("a", "b", "poison", "c")
    results = await asyncio.gather(*map(batcher.submit, requests), return_exceptions=True)

    assert results[:2] == ["A", "B"] and results[3] == "C"
    assert isinstance(results[2], StoreError)
    assert server.batches == [["a", "b", "poison", "c"], ["a"], ["b"], ["poison"], ["c"]]


@pytest.mark.parametrize(
    "error",
    [StoreBusy("database is busy: lock timeout"), StoreError("database error: connection lost")],
)
async def test_a_busy_database_or_a_lost_connection_fails_the_whole_batch_once(
    error: StoreError,
) -> None:
    server = Server()
    server.release.set()
    server.error = error
    batcher: Batcher[str, str] = Batcher(server.run)

    results = await asyncio.gather(*(batcher.submit(r) for r in "abc"), return_exceptions=True)

    assert results == [error, error, error]
    assert server.batches == [["a", "b", "c"]]  # nothing run again: a commit may have landed


async def test_close_waits_for_the_batch_out_and_refuses_new_requests() -> None:
    server = Server()
    batcher: Batcher[str, str] = Batcher(server.run)
    caller = await started(batcher, "a")
    await server.arrived.wait()

    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0)
    assert not closing.done()
    server.release.set()
    await closing

    assert await caller == "A"
    with pytest.raises(StoreError, match="closed"):
        await batcher.submit("b")
