"""Per-token figures as Prometheus gauges on the daemon's `/metrics` (part of the
exposition: `prometheus_client` is imported only here and in `exposition`)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gpusteward.core.cluster import ClusterSnapshot


class TokenGauges(Collector):
    """Each deployment's per-token figures from the latest snapshot (on the simulator: the
    run so far; on Kubernetes: the last hour from vLLM's metrics): tokens per second, TTFT
    and TPOT quantiles, cost and GPU-hours per 1M tokens, the share of GPU-hours that
    served no request. Computed when scraped: a tick only keeps the snapshot."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.snapshot: ClusterSnapshot | None = None
        r.register(self)

    def update(self, snapshot: ClusterSnapshot) -> None:
        self.snapshot = snapshot

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        rate, ttft, tpot, cost, gpu_hours, idle = families
        snap = self.snapshot
        for key, k in (snap.token_figures() if snap is not None else {}).items():
            if not k.seconds:
                continue
            rate.add_metric([key, "input"], k.input_tokens / k.seconds)
            rate.add_metric([key, "output"], k.output_tokens / k.seconds)
            for family, values in (
                (ttft, (k.ttft_p50_seconds, k.ttft_p95_seconds)),
                (tpot, (k.tpot_p50_seconds, k.tpot_p95_seconds)),
            ):
                for q, v in zip(("0.5", "0.95"), values, strict=True):
                    if v is not None:
                        family.add_metric([key, q], v)
            for direction in ("input", "output"):
                usd = k.cost_per_million("input" if direction == "input" else "output")
                if usd is not None:
                    cost.add_metric([key, direction], usd)
            if k.gpu_hours_per_million is not None:
                gpu_hours.add_metric([key], k.gpu_hours_per_million)
            if k.idle_gpu_share is not None:
                idle.add_metric([key], k.idle_gpu_share)
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        dep = ["deployment"]
        return [
            GaugeMetricFamily(
                "gpusteward_tokens_per_second", "Tokens per second.", labels=[*dep, "direction"]
            ),
            GaugeMetricFamily(
                "gpusteward_time_to_first_token_seconds",
                "Time to first token (queueing + prefill), by quantile.",
                labels=[*dep, "quantile"],
            ),
            GaugeMetricFamily(
                "gpusteward_time_per_output_token_seconds",
                "Time per output token, by quantile.",
                labels=[*dep, "quantile"],
            ),
            GaugeMetricFamily(
                "gpusteward_cost_per_million_tokens_usd",
                "GPU cost per 1M input or output tokens.",
                labels=[*dep, "direction"],
            ),
            GaugeMetricFamily(
                "gpusteward_gpu_hours_per_million_tokens",
                "GPU-hours per 1M tokens.",
                labels=dep,
            ),
            GaugeMetricFamily(
                "gpusteward_idle_gpu_share",
                "Share of GPU-hours that served no request.",
                labels=dep,
            ),
        ]
