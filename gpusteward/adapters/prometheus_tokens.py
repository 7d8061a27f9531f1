"""Per-token figures of a real cluster from vLLM's metrics in Prometheus.

Over a window (e.g. the last hour), per deployment (matched by namespace and
`model_name`, as `PrometheusSource` does):
- tokens: `increase` of `vllm:prompt_tokens_total` and `vllm:generation_tokens_total`;
- time to first token p50 / p95: `histogram_quantile` of `vllm:time_to_first_token_seconds`;
- time per output token p50 / p95: `vllm:inter_token_latency_seconds` (vLLM v1) or
  `vllm:time_per_output_token_seconds` (the older name);
- the split of GPU cost between input and output tokens: the time requests spent in
  prefill and in decode (`vllm:request_prefill_time_seconds_sum`,
  `vllm:request_decode_time_seconds_sum`); without them, by token counts;
- the share of GPU time that served no request: the share of scrapes (sub-queried every
  30 s) at which a replica had no request running (`vllm:num_requests_running == 0`),
  averaged over the replicas;
- GPU-hours and cost: the GPUs the deployment's placed replicas hold now, at their
  node's price, over the window (Prometheus does not know prices).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gpusteward.adapters.prometheus import PrometheusSource, Sample
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, TokenAccounting
from gpusteward.core.errors import InputError

TOKEN_METRICS = (
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:time_per_output_token_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
    "vllm:num_requests_running",
    "vllm:request_success_total",
)


def _sum(expr: str) -> str:
    return f"sum by (namespace, model_name) ({expr})"


def _quantile(q: float, metric: str, w: str) -> str:
    inner = f"sum by (le, namespace, model_name) (increase({metric}_bucket[{w}]))"
    return f"histogram_quantile({q}, {inner})"


def _tpot(q: float, w: str) -> str:
    new = _quantile(q, "vllm:inter_token_latency_seconds", w)
    old = _quantile(q, "vllm:time_per_output_token_seconds", w)
    return f"({new}) or ({old})"


def token_queries(window_seconds: int) -> dict[str, str]:
    w = f"{window_seconds}s"
    return {
        "input": _sum(f"increase(vllm:prompt_tokens_total[{w}])"),
        "output": _sum(f"increase(vllm:generation_tokens_total[{w}])"),
        "requests": _sum(f"increase(vllm:request_success_total[{w}])"),
        "ttft_p50": _quantile(0.5, "vllm:time_to_first_token_seconds", w),
        "ttft_p95": _quantile(0.95, "vllm:time_to_first_token_seconds", w),
        "tpot_p50": _tpot(0.5, w),
        "tpot_p95": _tpot(0.95, w),
        "prefill": _sum(f"increase(vllm:request_prefill_time_seconds_sum[{w}])"),
        "decode": _sum(f"increase(vllm:request_decode_time_seconds_sum[{w}])"),
        "idle": "avg by (namespace, model_name) "
        f"(avg_over_time((vllm:num_requests_running == bool 0)[{w}:30s]))",
    }


def _index(samples: list[Sample]) -> dict[tuple[str, str], float]:
    return {
        (s.labels.get("namespace", ""), s.labels.get("model_name", "")): s.value for s in samples
    }


def _held(snapshot: ClusterSnapshot, d: ModelDeployment) -> tuple[float, float]:
    """GPUs the deployment's placed replicas hold now, and their summed price per hour."""
    price = {n.name: n.price_per_gpu_hour for n in snapshot.nodes}
    placed = [r for r in d.replica_states if r.node is not None]
    gpus = len(placed) * d.gpus_per_replica
    return gpus, sum(price.get(r.node or "", 0.0) * d.gpus_per_replica for r in placed)


def token_figures(
    source: PrometheusSource,
    snapshot: ClusterSnapshot,
    window_seconds: int = 3600,
    at: datetime | None = None,
) -> dict[str, TokenAccounting]:
    """Each deployment's per-token figures over the `window_seconds` before `at`; a
    deployment without token series is left out (no information, not zero tokens)."""
    found = {k: _index(source.query(q, at)) for k, q in token_queries(window_seconds).items()}
    out = {}
    hours = window_seconds / 3600.0
    for d in snapshot.deployments:
        if d.routed_to is not None:  # its requests are counted under the runtime it joined
            continue
        keys = [(d.namespace, d.model), ("", d.model)]

        def value(name: str, keys: Sequence[tuple[str, str]] = keys) -> float | None:
            return next((found[name][k] for k in keys if k in found[name]), None)

        tokens_in, tokens_out = value("input"), value("output")
        if tokens_in is None and tokens_out is None:
            continue
        tokens_in, tokens_out = tokens_in or 0.0, tokens_out or 0.0
        prefill, decode = value("prefill"), value("decode")
        if prefill is not None and decode is not None and prefill + decode > 0:
            share = prefill / (prefill + decode)
        else:
            total = tokens_in + tokens_out
            share = tokens_in / total if total else 0.5
        gpus, price = _held(snapshot, d)
        idle = value("idle")
        out[d.key] = TokenAccounting(
            requests=round(value("requests") or 0.0),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            seconds=float(window_seconds),
            ttft_p50_seconds=value("ttft_p50"),
            ttft_p95_seconds=value("ttft_p95"),
            tpot_p50_seconds=value("tpot_p50"),
            tpot_p95_seconds=value("tpot_p95"),
            gpu_hours=gpus * hours,
            cost_usd=price * hours,
            input_cost_share=min(1.0, max(0.0, share)),
            idle_gpu_share=None if idle is None else min(1.0, max(0.0, idle)),
        )
    return out


class PrometheusTokens:
    """`TokenFiguresSource` over a Prometheus server: `token_figures` over the last
    `window_seconds` (an hour by default: a p95 over fewer requests is noise)."""

    def __init__(self, source: PrometheusSource, window_seconds: int = 3600) -> None:
        if window_seconds < 60:
            raise InputError(
                f"per-token window {window_seconds} s: expected at least 60 s (a few scrapes)"
            )
        self.source, self.window_seconds = source, window_seconds

    def token_figures(self, snapshot: ClusterSnapshot) -> dict[str, TokenAccounting]:
        return token_figures(self.source, snapshot, self.window_seconds, snapshot.at)
