"""JobRun on its own: a job is settled exactly once, and a shutdown suspends what can resume."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.db import Store
from bot.jobs import ledger
from bot.jobs.background import TaskSet
from bot.jobs.run import JobRun
from bot.providers.base import Completed, Event, Failed, Progress, Submitted
from bot.providers.errors import ContentRejected
from tests.jobs.conftest import (
    MP4,
    FakeMessenger,
    TinyProvider,
    context_for,
    request_for,
    reserve,
    used,
)


async def started(
    store: Store,
    provider: TinyProvider,
    session: aiohttp.ClientSession,
    image_url: str,
    *,
    resume: str | None = None,
) -> tuple[JobRun, FakeMessenger, asyncio.Task[None]]:
    request = request_for(image_url)
    job = await reserve(store, request)
    messenger = FakeMessenger()
    ctx = context_for(store, provider, session, image_url)
    run = JobRun(ctx, job, request, messenger.as_messenger(), resume_task_id=resume)
    return run, messenger, run.launch(TaskSet())


async def ended(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_success_keeps_the_credit_and_a_late_cancel_is_a_no_op(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider()
    run, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t1"), Progress(40.0), Completed(content=MP4))
    await task
    job = await store.get_job(run.job.id)
    assert job is not None and job.status == "completed" and job.provider_task_id == "t1"
    assert await used(store) == 1
    assert len(provider.submitted) == 1
    image = provider.submitted[0].image
    assert image is not None
    assert (image.width, image.height) == (72, 128)  # fitted to the model's size
    assert len(messenger.finals) == 1
    content, attached, buttons = messenger.finals[0]
    assert "✅" in content and attached and buttons is None
    # Cancelling (or settling) an ended job changes nothing.
    assert run.request_cancel(by=7) is False
    assert await ledger.settle(store, run.job.id, "cancelled", error="late") is False
    assert await used(store) == 1 and len(messenger.finals) == 1


async def test_failure_refunds_once_with_the_providers_reason(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider()
    run, messenger, task = await started(store, provider, session, image_url)
    error = ContentRejected("This content may violate our content policies.")
    provider.push(Submitted("t2"), Failed(error))
    await task
    job = await store.get_job(run.job.id)
    assert job is not None and job.status == "failed"
    assert await used(store) == 0
    assert len(messenger.finals) == 1
    content, _, buttons = messenger.finals[0]
    assert error.user_message in content and buttons == "retry"
    assert run.settled and run.request_cancel(by=7) is False


async def test_cancel_refunds_and_cancels_at_the_provider(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider()
    run, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t3"), Progress(10.0))
    await provider.idle.wait()  # the task id is recorded
    assert run.request_cancel(by=42) is True
    await ended(task)
    job = await store.get_job(run.job.id)
    assert job is not None and job.status == "cancelled"
    assert await used(store) == 0
    assert provider.cancelled == ["t3"]
    assert len(messenger.finals) == 1
    content, _, buttons = messenger.finals[0]
    assert "Cancelled by <@42>." in content and buttons == "retry"
    assert run.request_cancel(by=42) is False  # once ended, a second click does nothing
    assert await used(store) == 0


class SwallowingProvider(TinyProvider):
    """A stream that turns the run's cancellation into a timeout and carries on.

    aiohttp can do this: a request cancelled as its own timer fires raises
    TimeoutError instead of CancelledError, and a poller retries it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.swallowed = asyncio.Event()

    async def _stream(self) -> AsyncIterator[Event]:
        while True:
            if self.events.empty():
                self.idle.set()
            try:
                event = await self.events.get()
            except asyncio.CancelledError:
                self.swallowed.set()
                event = await self.events.get()  # "timed out": poll again
            if event is None:
                return
            yield event


async def test_an_accepted_cancel_stands_even_if_its_interruption_was_swallowed(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = SwallowingProvider()
    run, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t9"), Progress(50.0))
    await provider.idle.wait()
    assert run.request_cancel(by=42, keep_credit=True) is True  # the member is told: cancelled
    await provider.swallowed.wait()  # the stream swallowed the cancellation
    provider.push(Completed(content=MP4))  # and the provider then says it is done
    await ended(task)
    job = await store.get_job(run.job.id)
    assert job is not None and job.status == "cancelled"  # what the member was told
    assert await used(store) == 1  # confirmed after it was sent: the credit is kept
    assert len(messenger.finals) == 1 and "Cancelled by <@42>." in messenger.finals[0][0]


async def test_shutdown_suspends_a_resumable_job(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider(resumable=True)
    run, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t4"), Progress(55.0))
    await provider.idle.wait()
    task.cancel()  # what close() does: no cancel was requested
    await ended(task)
    job = await store.get_job(run.job.id)
    assert job is not None and not job.is_final and job.provider_task_id == "t4"
    assert await used(store) == 1  # still reserved: the job goes on after the restart
    assert messenger.finals == [] and "keeps rendering" in messenger.edits[-1]
    assert provider.cancelled == []


async def test_shutdown_refunds_a_job_that_cannot_resume(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider(resumable=False)
    run, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t5"))
    await provider.idle.wait()
    task.cancel()
    await ended(task)
    job = await store.get_job(run.job.id)
    assert job is not None and job.status == "failed" and job.error == ledger.RESTART_REASON
    assert await used(store) == 0
    assert [f[2] for f in messenger.finals] == ["retry"]


@pytest.mark.parametrize("resume", ["t6"])
async def test_a_resumed_job_polls_instead_of_submitting(
    resume: str, store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider()
    run, messenger, task = await started(store, provider, session, image_url, resume=resume)
    provider.push(Progress(90.0), Completed(content=MP4))
    await task
    assert provider.resumed == [resume] and provider.submitted == []
    assert (await store.get_job(run.job.id)).status == "completed"  # type: ignore[union-attr]
    assert len(messenger.finals) == 1


async def test_a_stream_that_just_ends_refunds(
    store: Store, session: aiohttp.ClientSession, image_url: str
) -> None:
    provider = TinyProvider()
    _, messenger, task = await started(store, provider, session, image_url)
    provider.push(Submitted("t7"), None)  # type: ignore[arg-type]
    await task
    assert await used(store) == 0
    assert "stopped answering" in messenger.finals[0][0]
