"""Prometheus exposition (`prometheus_client`, imported only here).

- `DaemonExposition` — the daemon's own `/metrics`: ticks, stage latencies, proposals,
  verdicts by rule, action results, stage errors, pending approvals, leadership and
  one-tick-ahead forecast error. It is the daemon's `DaemonMetrics` hook.
- `ClusterExposition` — a cluster snapshot as the metrics vLLM and DCGM exporter publish
  (same names and labels), so a real Prometheus can scrape a *simulated* cluster and the
  Prometheus source can read it back, end to end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gpusteward.adapters.exposition_tokens import TokenGauges
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.llm import BREAKER_OPEN
from gpusteward.core.tick import TickRecord

if TYPE_CHECKING:  # a type only: importing nvml would load pynvml
    from gpusteward.adapters.nvml import GpuReading

STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DaemonExposition:
    """The daemon's metrics, in their own registry."""

    def __init__(self, pending_approvals: Callable[[], int] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.ticks = Counter("gpusteward_ticks", "Ticks run.", registry=r)
        self.stage = Histogram(
            "gpusteward_stage_seconds",
            "Wall time per stage of a tick.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.proposals = Counter(
            "gpusteward_proposals",
            "Proposals by planner and action kind.",
            ["planner", "kind"],
            registry=r,
        )
        self.verdicts = Counter(
            "gpusteward_verdicts",
            "Verdicts by decision and deciding rule.",
            ["decision", "rule"],
            registry=r,
        )
        self.results = Counter(
            "gpusteward_action_results", "Action results by status.", ["status"], registry=r
        )
        self.errors = Counter("gpusteward_stage_errors", "Failed stages.", ["stage"], registry=r)
        self.leader = Gauge(
            "gpusteward_leader",
            "1 while this daemon holds the leader lease; 0 without it (a standby, or a dry or "
            "simulated run, which takes no lease).",
            registry=r,
        )
        self.last_tick = Gauge(
            "gpusteward_last_tick_timestamp_seconds", "Time of the last tick.", registry=r
        )
        self.forecast_error = Gauge(
            "gpusteward_forecast_abs_error_ratio",
            "|forecast - observed| / observed arrival rate, one tick ahead.",
            ["deployment"],
            registry=r,
        )
        self.pending = Gauge(
            "gpusteward_pending_approvals", "Approval requests waiting for a human.", registry=r
        )
        self.llm_ticks = Counter(
            "gpusteward_llm_ticks",
            "LLM planner ticks by outcome: proposed, no_opinion (the deterministic plan stood), "
            "fallback (a failure, a limit, or the circuit breaker).",
            ["outcome"],
            registry=r,
        )
        self.llm_breaker_open = Gauge(
            "gpusteward_llm_breaker_open",
            "1 while the LLM circuit breaker is open (the model is not called).",
            registry=r,
        )
        self.warning_active = Gauge(
            "gpusteward_warning_active",
            "1 while a diagnostics warning is open (red flag, deployment, severity).",
            ["flag", "deployment", "severity"],
            registry=r,
        )
        self.warnings_opened = Counter(
            "gpusteward_warnings_opened",
            "Diagnostics warnings opened, by red flag.",
            ["flag"],
            registry=r,
        )
        self.tokens = TokenGauges(r)
        if pending_approvals is not None:
            self.pending.set_function(lambda: float(pending_approvals()))
        self._previous: dict[str, list[tuple[float, float]]] = {}
        self._open: dict[str, tuple[str, str, str]] = {}  # warning id -> its gauge's labels

    # -- DaemonMetrics ----------------------------------------------------------------

    def stage_seconds(self, stage: str, seconds: float) -> None:
        self.stage.labels(stage).observe(seconds)

    def tick(self, record: TickRecord, *, leader: bool) -> None:
        self.ticks.inc()
        self.leader.set(1 if leader else 0)
        self.last_tick.set(record.at.timestamp())
        for p in record.proposals:
            self.proposals.labels(record.planner, p.action.kind).inc()
        for v in record.verdicts:
            for hit in v.rules or ():
                self.verdicts.labels(v.decision, hit.rule).inc()
            if not v.rules:
                self.verdicts.labels(v.decision, "none").inc()
        for res in record.results:
            self.results.labels(res.status.value).inc()
        for e in record.errors:
            self.errors.labels(e.stage.value).inc()
        if record.llm is not None:
            self.llm_ticks.labels(record.llm.outcome).inc()
            reason = record.llm.fallback_reason or ""
            opened = not record.llm.rounds and reason.startswith(BREAKER_OPEN)
            self.llm_breaker_open.set(1 if opened else 0)
        self._forecast_error(record)
        if record.snapshot is not None:
            self.tokens.update(record.snapshot)
        self._warnings(record)

    def _warnings(self, record: TickRecord) -> None:
        """Open warnings at 1 (one series per flag, deployment and severity); a resolved
        one's series removed; each new warning counted once."""
        for w in record.warnings:
            labels = (w.flag.value, w.deployment, w.severity.value)
            before = self._open.get(w.id)
            if before is None and not w.resolved:
                self.warnings_opened.labels(w.flag.value).inc()
            if before is not None and (w.resolved or before != labels):
                self._drop(w.id, before)
            if not w.resolved:
                self._open[w.id] = labels
                self.warning_active.labels(*labels).set(1)

    def _drop(self, warning_id: str, labels: tuple[str, str, str]) -> None:
        del self._open[warning_id]
        if labels not in self._open.values():  # another open warning may share the series
            self.warning_active.remove(*labels)

    def _forecast_error(self, record: TickRecord) -> None:
        """Score the previous tick's forecast for this instant against what was observed."""
        snap = record.snapshot
        if snap is not None:
            now = snap.at.timestamp()
            for key, points in self._previous.items():
                observed = snap.metrics.get(key)
                near = [p for t, p in points if abs(t - now) <= snap.interval_seconds / 2]
                if observed is not None and near and observed.arrival_rate_rps > 0:
                    err = abs(near[0] - observed.arrival_rate_rps) / observed.arrival_rate_rps
                    self.forecast_error.labels(key).set(err)
        self._previous = {
            f.key: [(p.at.timestamp(), p.point) for p in f.points] for f in record.forecasts
        }

    # -- serving ----------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> MetricsServer:
        return MetricsServer(*start_http_server(port, addr=host, registry=self.registry))


class MetricsServer:
    """A running `/metrics` HTTP server (a daemon thread); `close()` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ClusterExposition(Collector):
    """vLLM- and DCGM-named metrics of the latest snapshot, computed at scrape time.

    vLLM series carry `namespace` and `model_name`; DCGM series carry `gpu`, `Hostname`,
    and `pod` / `namespace` of the replica holding the GPU (as dcgm-exporter's Kubernetes
    mapping does). Counters are cumulative from the snapshot's accounting.
    """

    def __init__(self, snapshot: Callable[[], ClusterSnapshot | None]) -> None:
        self._snapshot = snapshot
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        snap = self._snapshot()
        if snap is None:
            return
        model = ["namespace", "model_name"]
        success = CounterMetricFamily("vllm:request_success", "Finished requests.", labels=model)
        waiting = GaugeMetricFamily("vllm:num_requests_waiting", "Queued requests.", labels=model)
        running = GaugeMetricFamily("vllm:num_requests_running", "Running requests.", labels=model)
        kv = GaugeMetricFamily("vllm:kv_cache_usage_perc", "KV-cache use (0..1).", labels=model)
        prompt = CounterMetricFamily(
            "vllm:prompt_tokens", "Prefill tokens processed.", labels=model
        )
        generated = CounterMetricFamily(
            "vllm:generation_tokens", "Generation tokens processed.", labels=model
        )
        for d in snap.deployments:
            labels = [d.namespace, d.model]
            m = snap.metrics.get(d.key)
            served = (snap.accounting or {}).get(d.key)
            success.add_metric(labels, float(served.served) if served else 0.0)
            if served is not None and served.tokens is not None:
                prompt.add_metric(labels, served.tokens.input_tokens)
                generated.add_metric(labels, served.tokens.output_tokens)
            if m is not None:
                waiting.add_metric(labels, float(m.queue_depth))
                running.add_metric(labels, float(m.running))
                if m.kv_cache_usage is not None:
                    kv.add_metric(labels, m.kv_cache_usage)
        gpu = ["gpu", "Hostname", "modelName", "pod", "namespace"]
        util = GaugeMetricFamily("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels=gpu)
        fb = GaugeMetricFamily("DCGM_FI_DEV_FB_USED", "Framebuffer used (in MiB).", labels=gpu)
        owners = {r.id: d for d in snap.deployments for r in d.replica_states}
        for node in snap.nodes:
            for g in node.gpus:
                owner = owners.get(g.allocated_to or "")
                m = snap.metrics.get(owner.key) if owner is not None else None
                labels = [
                    str(g.index),
                    node.name,
                    g.type,
                    g.allocated_to or "",
                    owner.namespace if owner is not None else "",
                ]
                util.add_metric(labels, 100.0 * (m.gpu_utilization if m else 0.0))
                used = owner.gpu_memory_gib_per_replica / owner.gpus_per_replica if owner else 0.0
                fb.add_metric(labels, used * 1024)
        yield from (success, waiting, running, kv, prompt, generated, util, fb)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> MetricsServer:
        return MetricsServer(*start_http_server(port, addr=host, registry=self.registry))


# The node agent's gauges, one a `GpuReading` field: (metric name, help, field).
_NODE_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("gpu_utilization_ratio", "GPU busy (0..1).", "utilization"),
    ("gpu_memory_utilization_ratio", "Memory controller busy (0..1).", "memory_utilization"),
    ("gpu_memory_used_bytes", "Framebuffer used.", "memory_used_bytes"),
    ("gpu_memory_total_bytes", "Framebuffer size.", "memory_total_bytes"),
    ("gpu_power_watts", "Power draw.", "power_watts"),
    ("gpu_temperature_celsius", "GPU temperature.", "temperature_c"),
    ("gpu_sm_clock_mhz", "SM clock.", "sm_clock_mhz"),
    ("gpu_memory_clock_mhz", "Memory clock.", "memory_clock_mhz"),
    ("gpu_ecc_dbe_volatile", "Uncorrected ECC errors since boot.", "ecc_dbe_volatile"),
    ("gpu_clock_event_reasons", "NVML clock-event reason bitmask.", "throttle_reasons"),
)


class NodeGpuExposition(Collector):
    """The node agent's metrics: the latest NVML sweep of this node's GPUs."""

    def __init__(
        self, readings: Callable[[], Sequence[GpuReading]], sweep_seconds: Callable[[], float]
    ):
        self._readings, self._sweep_seconds = readings, sweep_seconds
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["gpu", "uuid", "modelName"]
        families = [(_gauge(name, doc, labels), field) for name, doc, field in _NODE_GAUGES]
        gpm = _gauge("gpu_gpm", "GPM metric (percent, or MB/s for PCIe).", [*labels, "metric"])
        for r in self._readings():
            values = [str(r.index), r.uuid, r.name]
            for family, field in families:
                value = getattr(r, field)
                if value is not None:
                    family.add_metric(values, float(value))
            for name, value in r.gpm.items():
                gpm.add_metric([*values, name], value)
        yield from (family for family, _ in families)
        yield gpm
        sweep = _gauge("nvml_sweep_seconds", "Wall time of the last sweep of every GPU.", [])
        sweep.add_metric([], self._sweep_seconds())
        yield sweep

    def serve(self, host: str, port: int) -> MetricsServer:
        return MetricsServer(*start_http_server(port, addr=host, registry=self.registry))


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"gpusteward_{name}", doc, labels=labels)
