"""Per-provider metrics: whether each configured provider is taking jobs, and its failures.

Read from the provider set's breakers at scrape time (nothing is stored), so
they describe this process since it started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

ProviderHealth = Callable[[], Mapping[str, Mapping[str, Any]]]


class ProviderCollector(Collector):
    """``sora_provider_available``, ``sora_provider_failures``, ``sora_provider_skipped_total``."""

    def __init__(self, health: ProviderHealth) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """One sample per provider and metric."""
        up = GaugeMetricFamily(
            "sora_provider_available",
            "1 when the provider takes jobs, 0 while it is skipped after repeated failures.",
            labels=["provider"],
        )
        failures = GaugeMetricFamily(
            "sora_provider_failures",
            "Jobs the provider failed to take in a row (0 after one it took).",
            labels=["provider"],
        )
        skipped = CounterMetricFamily(
            "sora_provider_skipped",
            "Times the provider was set aside for a cool-down after repeated failures.",
            labels=["provider"],
        )
        for name, state in self.health().items():
            up.add_metric([name], 1.0 if state.get("ok") else 0.0)
            failures.add_metric([name], float(state.get("failures", 0)))
            skipped.add_metric([name], float(state.get("trips", 0)))
        yield up
        yield failures
        yield skipped
