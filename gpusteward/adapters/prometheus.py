"""Serving and GPU metrics from Prometheus: PromQL over its HTTP API (stdlib HTTP, no SDK).

vLLM metrics (both generations of names: `vllm:kv_cache_usage_perc` /
`vllm:gpu_cache_usage_perc`, `vllm:inter_token_latency_seconds` /
`vllm:time_per_output_token_seconds`) are matched to a deployment by its namespace and
model (`model_name` label); DCGM exporter metrics by the pods of the deployment
(`pod` / `exported_pod`) and nodes by `Hostname` or `hostname`. A merged deployment
(`routed_to` set: its LoRA adapter is served by its base model's runtime) has no series of
its own: its requests are counted in the runtime's, as vLLM labels them with the runtime's
model name, so it is left out rather than given the runtime's traffic. Range queries align
their start and end to the step, so a series read back at step `s` lands on multiples of
`s` whatever the wall clock says.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gpusteward.core.cluster import ModelDeployment, ServingMetrics
from gpusteward.core.errors import ClusterUnavailable, InputError

LabelSet = tuple[tuple[str, str], ...]


def _either(new: str, old: str) -> str:
    """New vLLM name first; the old name only for series the new one lacks."""
    return f"({new}) or ({old})"


def _by_model(expr: str) -> str:
    return f"sum by (namespace, model_name) ({expr})"


def _quantile(q: float, metric: str, window: str) -> str:
    inner = f"sum by (le, namespace, model_name) (rate({metric}_bucket[{window}]))"
    return f"histogram_quantile({q}, {inner})"


def _dcgm_by_pod(metric: str) -> str:
    """DCGM with Kubernetes pod mapping labels the pod `pod` (honor_labels) or
    `exported_pod` (the scrape's own pod label wins); both become `pod`."""
    relabelled = (
        f'label_replace(label_replace({metric}, "pod", "$1", "exported_pod", "(.+)"), '
        '"namespace", "$1", "exported_namespace", "(.+)")'
    )
    return f"avg by (namespace, pod) ({relabelled})"


def queries(window: str) -> dict[str, str]:
    """The PromQL behind each `ServingMetrics` field, over a rate window like "2m"."""
    return {
        "served": _by_model(f"rate(vllm:request_success_total[{window}])"),
        "waiting": _by_model("vllm:num_requests_waiting"),
        "running": _by_model("vllm:num_requests_running"),
        "kv": _either(
            "avg by (namespace, model_name) (vllm:kv_cache_usage_perc)",
            "avg by (namespace, model_name) (vllm:gpu_cache_usage_perc)",
        ),
        "ttft_p95": _quantile(0.95, "vllm:time_to_first_token_seconds", window),
        "itl_p50": _either(
            _quantile(0.5, "vllm:inter_token_latency_seconds", window),
            _quantile(0.5, "vllm:time_per_output_token_seconds", window),
        ),
        "gpu_util": _dcgm_by_pod("DCGM_FI_DEV_GPU_UTIL"),
        "tensor": _dcgm_by_pod("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
        "dram": _dcgm_by_pod("DCGM_FI_PROF_DRAM_ACTIVE"),
        "fb_used_mib": _dcgm_by_pod("DCGM_FI_DEV_FB_USED"),
    }


NODE_GPU_UTIL = (
    'avg by (Hostname) (label_replace(DCGM_FI_DEV_GPU_UTIL, "Hostname", "$1", "hostname", "(.+)"))'
)


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[datetime, float], ...]


class PrometheusSource:
    """A `ServingMetricsSource` over one Prometheus server."""

    def __init__(
        self, base_url: str, *, timeout_seconds: float = 10.0, rate_window: str = "2m"
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(
                f"prometheus_url = {base_url!r}: expected an http(s) URL, e.g. "
                "http://prometheus.monitoring:9090. Fix: set GPUSTEWARD_PROMETHEUS_URL."
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds
        self.rate_window = rate_window

    # -- the HTTP API ------------------------------------------------------------------

    def query(self, promql: str, at: datetime | None = None) -> list[Sample]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        data = self._get("/api/v1/query", params)
        return [
            Sample(r["metric"], float(r["value"][1]))
            for r in data["result"]
            if not math.isnan(float(r["value"][1]))
        ]

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: int
    ) -> list[Series]:
        """Points at multiples of `step_seconds` (Unix time) from `start` (rounded up) to
        `end` (rounded down): the same grid whenever it is asked."""
        if step_seconds < 1:
            raise InputError(f"step_seconds={step_seconds}: expected an integer >= 1")
        first = math.ceil(start.timestamp() / step_seconds) * step_seconds
        last = math.floor(end.timestamp() / step_seconds) * step_seconds
        if last < first:
            return []
        params = {"query": promql, "start": str(first), "end": str(last), "step": str(step_seconds)}
        data = self._get("/api/v1/query_range", params)
        return [
            Series(
                r["metric"],
                tuple((datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in r["values"]),
            )
            for r in data["result"]
        ]

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:300]
            if e.code in (400, 422):
                raise InputError(f"Prometheus refused {params.get('query')!r}: {detail}") from e
            raise ClusterUnavailable(
                f"Prometheus at {self.base_url}: HTTP {e.code} {detail}"
            ) from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ClusterUnavailable(
                f"Prometheus at {self.base_url} unreachable ({e}); metrics skipped this tick"
            ) from e
        if body.get("status") != "success":
            raise ClusterUnavailable(f"Prometheus answered {body.get('error', body)}")
        return body["data"]

    # -- what the daemon asks ----------------------------------------------------------

    def serving_metrics(
        self, deployments: Sequence[ModelDeployment], at: datetime | None = None
    ) -> dict[str, ServingMetrics]:
        """Each deployment's metrics at `at` (default: Prometheus's now); a deployment with no
        series at all is left out rather than reported as idle."""
        found = {name: self.query(q, at) for name, q in queries(self.rate_window).items()}
        by_model = {name: _index_by_model(found[name]) for name in _MODEL_FIELDS}
        by_pod = {name: _index_by_pod(found[name]) for name in _POD_FIELDS}
        out = {}
        for d in deployments:
            if d.routed_to is not None:
                continue  # served (and counted) by the runtime it is routed to
            m = {name: _for_model(by_model[name], d) for name in _MODEL_FIELDS}
            pods = [(d.namespace, r.id) for r in d.replica_states]
            p = {name: _mean(by_pod[name], pods) for name in _POD_FIELDS}
            if all(v is None for v in (*m.values(), *p.values())):
                continue  # nothing known: better absent than zero
            served = max(0.0, m["served"] or 0.0)
            out[d.key] = ServingMetrics(
                arrival_rate_rps=served,  # vLLM counts finished requests; see README
                served_rate_rps=served,
                queue_depth=round(m["waiting"] or 0),
                running=round(m["running"] or 0),
                ttft_p95_seconds=m["ttft_p95"],
                itl_p50_seconds=m["itl_p50"],
                kv_cache_usage=_unit(m["kv"]),
                gpu_utilization=_unit((p["gpu_util"] or 0.0) / 100) or 0.0,
                tensor_active=_unit(p["tensor"]),
                memory_bandwidth_util=_unit(p["dram"]),
            )
        return out

    def request_rate_history(
        self, deployment: ModelDeployment, start: datetime, end: datetime, step_seconds: int
    ) -> tuple[tuple[datetime, float], ...]:
        """The deployment's finished-request rate (req/s) on the step grid, for forecasting;
        none for a merged deployment (its requests are the runtime's)."""
        if deployment.routed_to is not None:
            return ()
        model = deployment.model.replace("\\", "\\\\").replace('"', '\\"')
        ns = deployment.namespace.replace('"', '\\"')
        window = f"{step_seconds}s"
        promql = (
            f'sum(rate(vllm:request_success_total{{model_name="{model}",namespace="{ns}"}}'
            f"[{window}]))"
        )
        series = self.query_range(promql, start, end, step_seconds)
        return series[0].points if series else ()

    def node_gpu_utilization(self, at: datetime | None = None) -> dict[str, float]:
        """Mean GPU utilisation (0..1) per node host name, from DCGM."""
        samples = self.query(NODE_GPU_UTIL, at)
        return {s.labels.get("Hostname", ""): s.value / 100 for s in samples}


_MODEL_FIELDS = ("served", "waiting", "running", "kv", "ttft_p95", "itl_p50")
_POD_FIELDS = ("gpu_util", "tensor", "dram", "fb_used_mib")


def _index_by_model(samples: list[Sample]) -> dict[tuple[str, str], float]:
    return {
        (s.labels.get("namespace", ""), s.labels.get("model_name", "")): s.value for s in samples
    }


def _index_by_pod(samples: list[Sample]) -> dict[tuple[str, str], float]:
    return {(s.labels.get("namespace", ""), s.labels.get("pod", "")): s.value for s in samples}


def _for_model(index: dict[tuple[str, str], float], d: ModelDeployment) -> float | None:
    """By namespace and model; a scrape without a namespace label matches by model alone."""
    return index.get((d.namespace, d.model), index.get(("", d.model)))


def _mean(index: dict[tuple[str, str], float], pods: list[tuple[str, str]]) -> float | None:
    values = [index[p] for p in pods if p in index]
    return sum(values) / len(values) if values else None


def _unit(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))
