"""Request handling the fake task APIs share: submit and poll gates, push deliveries.

Each fake protocol keeps its own vocabulary (validation, status views, error
shapes); what every one of them does around it the same way lives here: the
scripted delays and faults before a submit or a poll, and the one POST of a
finished job to the URL the bot gave (``notify_hook``, ``callback_url``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, Protocol

import aiohttp
from aiohttp import web

from bot.fake_provider.common import (
    FakeJob,
    State,
    broken_json,
    cut_answer,
    delay,
    injected_error,
    record,
)
from bot.fake_provider.scenario import Recorder, Scenario

log = logging.getLogger(__name__)

Auth = Callable[[web.Request, Scenario], web.Response | None]


class Finder(Protocol):
    """Looks up a route's job: the job, or the answer refusing the request."""

    def __call__(
        self, request: web.Request, faults: list[int] | None = None
    ) -> FakeJob | web.Response:
        """The job, or the refusal; ``faults`` is the injected-fault queue to consume."""


View = Callable[[FakeJob, State], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def job_finder(
    scenario: Scenario,
    auth: Auth,
    jobs: dict[str, FakeJob],
    key: str,
    missing: Callable[[], web.Response],
) -> Finder:
    """Looks up the job named by the route's ``key`` after auth and injected faults.

    The finder answers the refusal, or ``missing()`` for an unknown id, instead
    of a job; its second argument is the fault queue to consume (if any).
    """

    def find(request: web.Request, faults: list[int] | None = None) -> FakeJob | web.Response:
        refusal = auth(request, scenario) or injected_error(scenario, faults)
        if refusal is not None:
            return refusal
        job = jobs.get(request.match_info[key])
        return job if job is not None else missing()

    return find


async def submit_gate(
    request: web.Request,
    recorder: Recorder,
    scenario: Scenario,
    auth: Auth,
    body: Literal["json", "form"],
) -> tuple[dict[str, Any], web.Response | None]:
    """Record a submit, then apply the scenario's delay, auth and injected faults.

    Returns the recorder entry and the answer to give instead of handling the
    submit (``None`` when it goes ahead). A client that hung up during the delay
    gets a 499 and its entry is marked ``abandoned``: nothing was created.
    """
    entry = await record(request, recorder, body)
    if not await delay(request, scenario.submit_delays):
        entry["outcome"] = "abandoned"
        return entry, web.Response(status=499)
    return entry, auth(request, scenario) or injected_error(scenario, scenario.submit_errors)


def poll_route(
    recorder: Recorder, scenario: Scenario, find: Finder, id_key: str, view: View
) -> Handler:
    """The status poll handler: the scenario's delay and faults, else ``view`` of the job now.

    ``find`` looks the job up (or answers the refusal); ``id_key`` names the id
    field a broken JSON answer starts with.
    """

    async def poll(request: web.Request) -> web.StreamResponse:
        await record(request, recorder)
        if not await delay(request, scenario.poll_delays):
            return web.Response(status=499)
        found = find(request, scenario.poll_errors)
        if isinstance(found, web.Response):
            return found
        fault = found.fault(scenario)
        if fault == "cut":
            return await cut_answer(request)
        if fault == "malformed":
            return broken_json(found.id, id_key)
        return view(found, found.settle(scenario, by_poll=True))

    return poll


async def push_when_done(
    job: FakeJob,
    scenario: Scenario,
    view: Callable[[FakeJob, State], dict[str, Any]],
    url: str,
    sent: list[dict[str, Any]],
    *,
    target: str | None = None,
) -> None:
    """Wait for ``job`` to end on the scenario's clock, then POST its ``view`` to ``url`` once.

    ``target`` is where the POST really goes when it differs (a reverse proxy in
    front of the bot); ``sent`` records each delivery with its answer's status
    (``None`` when it failed: real providers do not retry, polling is the fallback).
    """
    outcome = job.settle(scenario, by_poll=False)
    while outcome == "running":
        # Re-read the scenario each step: tests may change it while the job runs.
        await asyncio.sleep(max(scenario.step_delay, 0.005))
        outcome = job.settle(scenario, by_poll=False)
    payload = view(job, outcome)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                target or url, json=payload, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp,
        ):
            sent.append({"url": url, "json": payload, "status": resp.status})
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("push for job %s failed: %s", job.id, type(exc).__name__)
        sent.append({"url": url, "json": payload, "status": None})


class Watchers:
    """Background push deliveries, cancelled when the fake's app shuts down."""

    def __init__(self, app: web.Application) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        app.on_cleanup.append(self._stop)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _stop(self, app: web.Application) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
