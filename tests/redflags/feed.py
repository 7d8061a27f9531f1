"""Feed `Diagnostics` a run of synthetic snapshots of one deployment, a minute apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
)
from gpusteward.core.diagnosis import DiagnosticWarning
from gpusteward.testing import T0, make_deployment, make_snapshot
from redflags.engine import Diagnostics

KEY = "default/llm-chat"
PER_REPLICA = 2.0  # req/s one ready replica serves


@dataclass(frozen=True)
class Minute:
    """What the deployment shows at one tick."""

    arrival: float
    ready: int = 4
    loading: int = 0
    queue: int = 0
    delay: float = 0.0
    util: float | None = None  # default: arrival / capacity, capped at 1
    region: str = "eu-west"  # where the loading replicas are


def snapshot(i: int, m: Minute, *, labels: dict[str, str] | None = None) -> ClusterSnapshot:
    nodes = [
        Node(
            name=f"node-{region}",
            pool=Pool.ON_PREM,
            region=region,
            price_per_gpu_hour=2.0,
            gpus=tuple(Gpu(index=g, type="H100-80GB", memory_gib=80.0) for g in range(32)),
        )
        for region in ("eu-west", "us-east")
    ]
    replicas = [
        Replica(id=f"r{k}", phase=ReplicaPhase.READY, node="node-eu-west", gpu_indices=(k,))
        for k in range(m.ready)
    ] + [
        Replica(
            id=f"l{k}",
            phase=ReplicaPhase.LOADING,
            node=f"node-{m.region}",
            gpu_indices=(16 + k,),
            ready_in_seconds=60.0,
        )
        for k in range(m.loading)
    ]
    d = make_deployment(
        replicas=m.ready + m.loading,
        max_replicas=32,
        cold_start_seconds=120.0,
        slo=Slo(queue_delay_seconds=1.0),
        replica_states=tuple(replicas),
        labels=labels or {},
    )
    capacity = m.ready * PER_REPLICA
    served = min(m.arrival, capacity)
    util = m.util if m.util is not None else (served / capacity if capacity else 0.0)
    metrics = ServingMetrics(
        arrival_rate_rps=m.arrival,
        served_rate_rps=served,
        queue_depth=m.queue,
        queue_delay_p95_seconds=m.delay,
        gpu_utilization=min(1.0, util),
        capacity_rps=capacity,
    )
    return make_snapshot(
        at=T0 + timedelta(minutes=i), nodes=nodes, deployments=[d], metrics={KEY: metrics}
    )


def feed(
    minutes: list[Minute], diagnostics: Diagnostics | None = None, **kw: object
) -> tuple[Diagnostics, list[tuple[DiagnosticWarning, ...]]]:
    """Every tick's warnings, in order."""
    diag = diagnostics or Diagnostics()
    out = [diag.observe(snapshot(i, m, **kw)) for i, m in enumerate(minutes)]  # type: ignore[arg-type]
    return diag, out


def opened(ticks: list[tuple[DiagnosticWarning, ...]]) -> dict[str, DiagnosticWarning]:
    """Each warning's first state, by id."""
    seen: dict[str, DiagnosticWarning] = {}
    for warnings in ticks:
        for w in warnings:
            seen.setdefault(w.id, w)
    return seen
