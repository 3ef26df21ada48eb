"""Prometheus metrics for ``/metrics``, in a registry of the bot's own (never the global one).

Most numbers come from the database, so they are exact and survive restarts
(jobs never leave the table, so the totals only grow): jobs by state and by
outcome, the queue, credits and estimated money spent, and the provider's
render times. They are read on the store's read-only connection, at most once
every ``SNAPSHOT_MAX_AGE`` seconds however often (and however many at once)
scrapers ask: a scrape costs a reservation nothing, and a flood of scrapes
costs the database no more than one. Counted in the process: Discord's HTTP answers
by status (429s among them, seen through discord.py's aiohttp trace hook) and
jobs refused at ``/video`` by reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot.db import ACTIVE_STATUSES, FINAL_STATUSES, Store
from bot.db.guild_models import MetricsSnapshot
from bot.ops.cache import Fresh
from bot.ops.provider_metrics import ProviderCollector, ProviderHealth
from bot.rules.costs import MICROS

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Prometheus scrapes every 15-60 s; a few seconds' staleness costs nothing.
SNAPSHOT_MAX_AGE = 5.0


class _DatabaseCollector(Collector):
    """Turns the last :class:`MetricsSnapshot` into metric families at scrape time."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.snapshot: MetricsSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        states = GaugeMetricFamily(
            "sora_jobs", "Unfinished jobs by state (queued, submitted, running).", labels=["state"]
        )
        for state in ACTIVE_STATUSES:
            states.add_metric([state], snap.by_status.get(state, 0))
        yield states
        outcomes = CounterMetricFamily(
            "sora_jobs_finished", "Finished jobs by outcome, all time.", labels=["outcome"]
        )
        for outcome in FINAL_STATUSES:
            outcomes.add_metric([outcome], snap.by_status.get(outcome, 0))
        yield outcomes
        yield GaugeMetricFamily(
            "sora_queue_depth",
            "Jobs accepted and waiting for a rendering slot.",
            value=snap.by_status.get("queued", 0),
        )
        yield CounterMetricFamily(
            "sora_credits_spent",
            "Credits of jobs sent to the provider (billed, refunded or not), all time.",
            value=snap.credits_spent,
        )
        money = CounterMetricFamily(
            "sora_estimated_cost",
            "Estimated provider cost of jobs sent to it (PRICE_PER_SECOND), all time.",
            labels=["currency"],
        )
        money.add_metric([self.currency], snap.micros_spent / MICROS)
        yield money
        yield GaugeMetricFamily(
            "sora_credits_spent_today",
            "Credits of today's (UTC) jobs under way or sent to the provider, as caps count them.",
            value=snap.today.credits,
        )
        today_money = GaugeMetricFamily(
            "sora_estimated_cost_today",
            "Estimated cost of today's (UTC) jobs under way or sent, as budget caps count it.",
            labels=["currency"],
        )
        today_money.add_metric([self.currency], snap.today.micros / MICROS)
        yield today_money
        render = HistogramMetricFamily(
            "sora_provider_render_seconds",
            "Seconds from a job's start to its completion at the provider.",
        )
        buckets = [(f"{bound:g}", float(n)) for bound, n in snap.render_buckets]
        buckets.append(("+Inf", float(snap.render_count)))
        render.add_metric([], buckets, snap.render_sum)
        yield render


class _ProcessCollector(Collector):
    """``sora_process_info{shards="0,1"} 1``: which shards this process connects.

    Every shard cluster serves its own ``/metrics``; the database numbers are
    the same in each (one shared database), the in-process counters are not.
    """

    def __init__(self, shards: Callable[[], Sequence[int]]) -> None:
        self.shards = shards

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "sora_process_info", "This bot process; its shards as a label.", labels=["shards"]
        )
        info.add_metric([",".join(map(str, self.shards()))], 1)
        yield info


class Metrics:
    """The bot's metrics; one per bot, each with its own registry."""

    def __init__(self, currency: str = "USD", *, max_age: float = SNAPSHOT_MAX_AGE) -> None:
        """``max_age``: how old (seconds) the database numbers of a scrape may be."""
        self.max_age = max_age
        self._fresh: tuple[Store, Fresh[MetricsSnapshot]] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self._database = _DatabaseCollector(currency)
        self.registry.register(self._database)
        self._refused = Counter(
            "sora_jobs_refused",
            "Jobs refused at /video before costing anything, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self._discord = Counter(
            "sora_discord_responses",
            "HTTP answers from Discord's API by status code (429: rate limited).",
            ["status"],
            registry=self.registry,
        )
        self._rate_limited = Counter(
            "sora_discord_rate_limited",
            "Discord API requests answered with 429 Too Many Requests.",
            registry=self.registry,
        )

    def watch_providers(self, health: ProviderHealth) -> None:
        """Export each configured provider's state (``ProviderSet.health``) per provider."""
        self.registry.register(ProviderCollector(health))

    def describe_process(self, shards: Callable[[], Sequence[int]]) -> None:
        """Export ``sora_process_info`` with the shards ``shards()`` names at scrape time."""
        self.registry.register(_ProcessCollector(shards))

    def job_refused(self, reason: str) -> None:
        """Count a job refused at ``/video`` (``quota``, ``budget``, ``blocked``...)."""
        self._refused.labels(reason).inc()

    def discord_response(self, status: int) -> None:
        """Count one answer of Discord's API."""
        self._discord.labels(str(status)).inc()
        if status == 429:
            self._rate_limited.inc()

    def http_trace(self) -> aiohttp.TraceConfig:
        """A trace config for discord.py's HTTP session (``Client(http_trace=...)``)."""
        trace = aiohttp.TraceConfig()

        async def on_end(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.discord_response(params.response.status)

        trace.on_request_end.append(on_end)
        return trace

    def snapshots(self, store: Store) -> Fresh[MetricsSnapshot]:
        """The shared, recent database numbers of ``store`` (the bot has one store)."""
        if self._fresh is None or self._fresh[0] is not store:
            self._fresh = (store, Fresh(store.metrics_snapshot, max_age=self.max_age))
        return self._fresh[1]

    async def render(self, store: Store) -> bytes:
        """The Prometheus text exposition; database numbers at most ``max_age`` seconds old."""
        self._database.snapshot = await self.snapshots(store).get()
        return generate_latest(self.registry)
