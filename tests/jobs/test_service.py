"""JobService routing on its own: start, resume after a restart, cancel."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import cast

import aiohttp
import discord
import pytest

from bot.db import Job, Store
from bot.jobs import ledger
from bot.jobs.controls import (
    CANCELLED,
    CANCELLED_KEPT,
    FINISHED,
    NOT_YOURS,
    ConfirmCancel,
)
from bot.jobs.service import JobService
from bot.providers.base import Completed, Provider, Submitted
from bot.ui.messenger import JobMessenger
from tests.jobs.conftest import (
    GUILD,
    MP4,
    USER,
    FakeMessenger,
    TinyProvider,
    make_settings,
    request_for,
    reserve,
    used,
)


class Service(JobService):
    """The real service, with each job's message recorded instead of sent to Discord."""

    def __init__(self, messengers: dict[int, FakeMessenger], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.messengers = messengers
        self.claimed: dict[int, bool] = {}  # job id: whether its messenger was a takeover's

    def messenger(
        self,
        job: Job,
        interaction: discord.Interaction | None = None,
        *,
        message_id: int | None = None,
        claimed: bool = False,
    ) -> JobMessenger:
        self.claimed[job.id] = claimed
        return self.messengers.setdefault(job.id, FakeMessenger()).as_messenger()


@pytest.fixture
async def client() -> AsyncIterator[discord.Client]:
    bot = discord.Client(intents=discord.Intents.none())
    yield bot
    await bot.close()


def service_for(
    store: Store,
    provider: TinyProvider,
    session: aiohttp.ClientSession,
    client: discord.Client,
    image_url: str,
) -> Service:
    settings = make_settings(discord_api_base_url=image_url.rsplit("/", 1)[0])
    return Service(
        {},
        settings=settings,
        store=store,
        provider=cast(Provider, provider),
        session=session,
        client=client,
    )


async def test_resume_routes_each_unfinished_job(
    store: Store, session: aiohttp.ClientSession, client: discord.Client, image_url: str
) -> None:
    provider = TinyProvider(resumable=True)
    service = service_for(store, provider, session, client, image_url)
    request = request_for(image_url)
    submitted = await reserve(store, request)  # at the provider: resumed by task id
    await store.update_job(submitted.id, status="running", provider_task_id="task-1")
    queued = await reserve(store, request)  # never submitted: started afresh
    other = await reserve(store, request, protocol="chat")  # another provider's task
    await store.update_job(other.id, status="running", provider_task_id="task-2")
    gone = await reserve(store, replace(request, model=replace(request.model, name="old")))
    for job in (submitted, queued, other, gone):  # left by a process that shut down
        assert await store.take_lease(job.id, "the last process", 30)
    assert await store.release_leases("the last process") == 4
    try:
        assert await service.resume_unfinished() == 2
        assert set(service.runs) == {submitted.id, queued.id}
        # Claimed from a process that is gone: their rate budgets count as spent.
        assert service.claimed == dict.fromkeys((submitted.id, queued.id, other.id, gone.id), True)
        for job in (other, gone):
            stored = await store.get_job(job.id)
            assert stored is not None and stored.status == "failed"
            assert [f[2] for f in service.messengers[job.id].finals] == ["retry"]
        assert (await store.get_job(other.id)).error == ledger.RESTART_REASON  # type: ignore[union-attr]
        assert "old" in (await store.get_job(gone.id)).error  # type: ignore[union-attr, operator]
        assert await used(store) == 2  # the two ended jobs were refunded
        await provider.generating.wait()
        assert provider.resumed == ["task-1"] and len(provider.submitted) == 1
    finally:
        await service.close()


async def test_cancel_routing(
    store: Store, session: aiohttp.ClientSession, client: discord.Client, image_url: str
) -> None:
    provider = TinyProvider()
    service = service_for(store, provider, session, client, image_url)
    request = request_for(image_url)
    running = await reserve(store, request)
    idle = await reserve(store, request)  # accepted, but no run (e.g. before a restart)
    try:
        task = service.start(running, request, service.messenger(running))
        assert task is not None
        provider.push(Submitted("task-9"))
        await provider.idle.wait()
        assert "no longer exists" in await service.cancel(999, by=USER, can_manage=False)
        assert await service.cancel(running.id, by=5, can_manage=False) == NOT_YOURS
        # A manager of another server (or pressing in a DM) may not cancel this server's job.
        for elsewhere in (GUILD + 1, None):
            answer = await service.cancel(running.id, by=5, can_manage=True, guild_id=elsewhere)
            assert answer == NOT_YOURS
        # Sent to the provider: the first click asks, and nothing is cancelled yet.
        asked = await service.cancel(running.id, by=5, can_manage=True, guild_id=GUILD)
        assert asked == ConfirmCancel(running.id, own=False) and not task.done()
        answer = await service.cancel(
            running.id, by=5, can_manage=True, guild_id=GUILD, confirmed=True
        )
        assert answer == CANCELLED_KEPT
        with contextlib.suppress(BaseException):
            await task
        stored = await store.get_job(running.id)
        assert stored is not None and stored.status == "cancelled"
        assert provider.cancelled == ["task-9"]
        assert await service.cancel(running.id, by=USER, can_manage=False) == FINISHED
        # Never sent: cancelled at once, and refunded.
        assert await service.cancel(idle.id, by=USER, can_manage=False) == CANCELLED
        assert (await store.get_job(idle.id)).status == "cancelled"  # type: ignore[union-attr]
        assert await used(store) == 1  # the confirmed Cancel kept its credit; the other came back
        failed = [f[0] for f in service.messengers[running.id].finals]
        assert "not refunded" in failed[0] and "Cancelled by <@5>" in failed[0]
    finally:
        await service.close()


async def test_start_completes_and_nothing_starts_after_close(
    store: Store, session: aiohttp.ClientSession, client: discord.Client, image_url: str
) -> None:
    provider = TinyProvider()
    service = service_for(store, provider, session, client, image_url)
    request = request_for(image_url)
    job = await reserve(store, request)
    task = service.start(job, request, service.messenger(job))
    assert task is not None and job.id in service.runs
    provider.push(Submitted("task-5"), Completed(content=MP4))
    await task
    assert job.id not in service.runs  # forgotten once ended
    assert (await store.get_job(job.id)).status == "completed"  # type: ignore[union-attr]
    late = await reserve(store, request)
    await service.close()
    assert service.start(late, request, service.messenger(late)) is None
    assert (await store.get_job(late.id)).status == "queued"  # type: ignore[union-attr]
    with pytest.raises(Exception, match="restarting"):
        service.ensure_accepting()


async def test_a_cancel_pressed_on_another_process_reaches_the_holder(
    store: Store, session: aiohttp.ClientSession, client: discord.Client, image_url: str
) -> None:
    provider = TinyProvider()
    holder = service_for(store, provider, session, client, image_url)
    elsewhere = service_for(store, TinyProvider(), session, client, image_url)
    request = request_for(image_url)
    job = await reserve(store, request)
    assert await store.take_lease(job.id, holder.owner, 30)
    try:
        task = holder.start(job, request, holder.messenger(job))
        assert task is not None
        provider.push(Submitted("task-7"))
        await provider.idle.wait()
        # Pressed where no run holds it: asked first (sent), then recorded for the holder.
        asked = await elsewhere.cancel(job.id, by=USER, can_manage=False)
        assert asked == ConfirmCancel(job.id, own=True)
        answer = await elsewhere.cancel(job.id, by=USER, can_manage=False, confirmed=True)
        assert answer == CANCELLED_KEPT and not task.done()
        assert job.id not in elsewhere.runs
        await holder.leases.renew()  # the holder's next renewal acts on it
        with contextlib.suppress(BaseException):
            await task
        stored = await store.get_job(job.id)
        assert stored is not None and stored.status == "cancelled"
        assert provider.cancelled == ["task-7"]
        assert await used(store) == 1  # confirmed after it was sent: the credit is kept
        assert await elsewhere.cancel(job.id, by=USER, can_manage=False) == FINISHED
    finally:
        await holder.close()
        await elsewhere.close()


async def test_a_resumed_job_edits_through_the_token_stored_with_it(
    store: Store, session: aiohttp.ClientSession, client: discord.Client, image_url: str
) -> None:
    service = service_for(store, TinyProvider(), session, client, image_url)
    request = request_for(image_url)
    with_token = await reserve(store, request, interaction_token="tok-secret", application_id=99)
    without = await reserve(store, request)
    try:
        messenger = JobService.messenger(service, with_token, claimed=True)
        assert messenger.claimed and messenger.via_interaction and messenger.token is not None
        assert messenger.token.application_id == 99 and messenger.token.token == "tok-secret"
        # Discord's 15 minutes, counted from the reservation (just after the interaction).
        assert messenger.token.expires_at == with_token.created_at + dt.timedelta(minutes=15)
        plain = JobService.messenger(service, without)
        assert plain.token is None and not plain.via_interaction and not plain.claimed
    finally:
        await service.close()
