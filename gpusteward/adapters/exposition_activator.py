"""The wake-on-request proxy's `/metrics` (part of the exposition: `prometheus_client` is
imported only in the `exposition*` modules).

`vllm:num_requests_waiting{namespace, model_name}` carries the requests the proxy holds
for each model, with vLLM's name and labels, so the daemon's Prometheus source reads it
as that model's queue: for a model at zero, a wake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass
class HeldCounts:
    """One model's requests at the proxy; the proxy updates it, a scrape reads it."""

    namespace: str
    model_name: str
    held: int = 0  # now
    held_total: int = 0  # requests ever held
    timed_out: int = 0  # held past hold_seconds
    refused_full: int = 0  # refused: max_held already waiting
    abandoned: int = 0  # the client hung up while held (never sent)


class ActivatorMetrics(Collector):
    """Computed when scraped, from `counts()`."""

    def __init__(self, counts: Callable[[], list[HeldCounts]]) -> None:
        self._counts = counts
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["namespace", "model_name"]
        waiting = GaugeMetricFamily(
            "vllm:num_requests_waiting",
            "Requests held by the activator while the model has no ready replica.",
            labels=labels,
        )
        held = CounterMetricFamily(
            "gpusteward_activator_held_requests",
            "Requests held for a model with no ready replica.",
            labels=labels,
        )
        timed_out = CounterMetricFamily(
            "gpusteward_activator_hold_timeouts",
            "Held requests answered 503: the model did not serve within hold_seconds.",
            labels=labels,
        )
        full = CounterMetricFamily(
            "gpusteward_activator_refused_full",
            "Requests answered 503 at once: max_held requests were already held.",
            labels=labels,
        )
        abandoned = CounterMetricFamily(
            "gpusteward_activator_abandoned",
            "Held requests whose client hung up before the model served (never sent).",
            labels=labels,
        )
        for c in self._counts():
            at = [c.namespace, c.model_name]
            waiting.add_metric(at, c.held)
            held.add_metric(at, c.held_total)
            timed_out.add_metric(at, c.timed_out)
            full.add_metric(at, c.refused_full)
            abandoned.add_metric(at, c.abandoned)
        yield from (waiting, held, timed_out, full, abandoned)
