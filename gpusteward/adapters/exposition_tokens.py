"""Per-token figures as Prometheus gauges on the daemon's `/metrics` (part of the
exposition: `prometheus_client` is imported only here and in `exposition`)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Gauge

from gpusteward.core.cluster import ClusterSnapshot

DIRECTIONS: tuple[Literal["input", "output"], ...] = ("input", "output")


class TokenGauges:
    """Each deployment's per-token figures from the snapshot's accounting (on the
    simulator: the run so far): tokens per second, TTFT and TPOT quantiles, cost and
    GPU-hours per 1M tokens, the share of GPU-hours that served no request."""

    def __init__(self, r: CollectorRegistry) -> None:
        dep = ["deployment"]
        self.rate = Gauge(
            "gpusteward_tokens_per_second", "Tokens per second.", [*dep, "direction"], registry=r
        )
        self.ttft = Gauge(
            "gpusteward_time_to_first_token_seconds",
            "Time to first token (queueing + prefill), by quantile.",
            [*dep, "quantile"],
            registry=r,
        )
        self.tpot = Gauge(
            "gpusteward_time_per_output_token_seconds",
            "Time per output token, by quantile.",
            [*dep, "quantile"],
            registry=r,
        )
        self.cost = Gauge(
            "gpusteward_cost_per_million_tokens_usd",
            "GPU cost per 1M input or output tokens.",
            [*dep, "direction"],
            registry=r,
        )
        self.gpu_hours = Gauge(
            "gpusteward_gpu_hours_per_million_tokens", "GPU-hours per 1M tokens.", dep, registry=r
        )
        self._children: dict[tuple[int, tuple[str, ...]], Gauge] = {}
        self.idle = Gauge(
            "gpusteward_idle_gpu_share",
            "Share of GPU-hours that served no request.",
            dep,
            registry=r,
        )

    def _set(self, gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
        """Set one series; its child is looked up once (`labels()` is slow every tick)."""
        child = self._children.get((id(gauge), labels))
        if child is None:
            child = self._children[(id(gauge), labels)] = gauge.labels(*labels)
        child.set(value)

    def update(self, snapshot: ClusterSnapshot) -> None:
        for key, k in snapshot.token_figures().items():
            if not k.seconds:
                continue
            self._set(self.rate, (key, "input"), k.input_tokens / k.seconds)
            self._set(self.rate, (key, "output"), k.output_tokens / k.seconds)
            for gauge, values in (
                (self.ttft, (k.ttft_p50_seconds, k.ttft_p95_seconds)),
                (self.tpot, (k.tpot_p50_seconds, k.tpot_p95_seconds)),
            ):
                for q, v in zip(("0.5", "0.95"), values, strict=True):
                    if v is not None:
                        self._set(gauge, (key, q), v)
            for direction in DIRECTIONS:
                usd = k.cost_per_million(direction)
                if usd is not None:
                    self._set(self.cost, (key, direction), usd)
            if k.gpu_hours_per_million is not None:
                self._set(self.gpu_hours, (key,), k.gpu_hours_per_million)
            if k.idle_gpu_share is not None:
                self._set(self.idle, (key,), k.idle_gpu_share)
