"""Which models and nodes matter this tick: the busiest, the over-SLO, the idle, those whose
forecast outgrows their capacity, and the nodes that are unhealthy, cordoned or
fragmented. Pure; used by the prompt summary and the `cluster_summary` tool, so a
1,000-node cluster is described by its top-K, never in full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from gpusteward.core.cluster import (
    ClusterSnapshot,
    Health,
    ModelDeployment,
    Node,
    ReplicaPhase,
    ServingMetrics,
)
from gpusteward.core.load import Forecast, LoadSeries


@dataclass(frozen=True)
class ModelFacts:
    key: str
    model: str
    workload: str
    replicas: int
    ready: int
    gpus: int
    arrival_rps: float
    capacity_rps: float
    utilisation: float
    queue_depth: int
    slo_attainment: float | None
    slo_target: float
    forecast_p90_rps: float | None
    recent_peak_rps: float | None
    retired: bool

    @property
    def over_slo(self) -> bool:
        return self.slo_attainment is not None and self.slo_attainment < self.slo_target

    @property
    def idle(self) -> bool:
        peak = max(self.recent_peak_rps or 0.0, self.arrival_rps)
        return not self.retired and self.gpus > 0 and peak <= 1e-9

    @property
    def forecast_gap(self) -> float:
        """Forecast p90 over capacity (> 1: not enough ready capacity at cold-start lead)."""
        if self.forecast_p90_rps is None:
            return 0.0
        return self.forecast_p90_rps / max(self.capacity_rps, 1e-9)


@dataclass(frozen=True)
class PoolFacts:
    pool: str
    gpu_type: str
    nodes: int
    gpus: int
    free: int
    fragmented_free: int  # free GPUs on nodes that are partly used
    largest_free_block: int
    cordoned: int
    unhealthy_gpus: int


@dataclass(frozen=True)
class Salience:
    at: str
    nodes: int
    gpus: int
    allocated_gpus: int
    deployments: int
    busiest: tuple[ModelFacts, ...]
    over_slo: tuple[ModelFacts, ...]
    idle: tuple[ModelFacts, ...]
    forecast_short: tuple[ModelFacts, ...]
    pools: tuple[PoolFacts, ...]
    attention_nodes: tuple[Node, ...]
    omitted_models: int


def model_facts(
    d: ModelDeployment,
    m: ServingMetrics | None,
    forecast: Forecast | None,
    load: LoadSeries | None,
    recent_points: int = 1440,
) -> ModelFacts:
    p90 = None
    if forecast is not None:
        point = forecast.at_or_after(d.cold_start_seconds)
        p90 = point.p90 if point is not None else None
    peak = None
    if load is not None:
        seen = [v for v in load.values[-recent_points:] if v is not None]
        peak = max(seen) if seen else None
    return ModelFacts(
        key=d.key,
        model=d.model,
        workload=d.workload.value,
        replicas=d.replicas,
        ready=d.count(ReplicaPhase.READY),
        gpus=d.replicas * d.gpus_per_replica,
        arrival_rps=m.arrival_rate_rps if m else 0.0,
        capacity_rps=m.capacity_rps if m else 0.0,
        utilisation=m.gpu_utilization if m else 0.0,
        queue_depth=m.queue_depth if m else 0,
        slo_attainment=m.slo_attainment if m else None,
        slo_target=d.slo.attainment_target,
        forecast_p90_rps=p90,
        recent_peak_rps=peak,
        retired=d.retired,
    )


def pools(snapshot: ClusterSnapshot) -> tuple[PoolFacts, ...]:
    groups: dict[tuple[str, str], list[Node]] = defaultdict(list)
    for n in snapshot.nodes:
        groups[(n.pool.value, n.gpu_type)].append(n)
    out = []
    for (pool, gpu_type), nodes in sorted(groups.items()):
        free = [n.free_gpus() for n in nodes]
        out.append(
            PoolFacts(
                pool=pool,
                gpu_type=gpu_type,
                nodes=len(nodes),
                gpus=sum(len(n.gpus) for n in nodes),
                free=sum(free),
                fragmented_free=sum(
                    f for n, f in zip(nodes, free, strict=True) if 0 < f < len(n.gpus)
                ),
                largest_free_block=max(free, default=0),
                cordoned=sum(1 for n in nodes if n.cordoned),
                unhealthy_gpus=sum(1 for n in nodes for g in n.gpus if g.health != Health.HEALTHY),
            )
        )
    return tuple(out)


def salience(
    snapshot: ClusterSnapshot,
    forecasts: Mapping[str, Forecast],
    load: Mapping[str, LoadSeries],
    top: int = 8,
) -> Salience:
    facts = [
        model_facts(d, snapshot.metrics.get(d.key), forecasts.get(d.key), load.get(d.key))
        for d in snapshot.deployments
    ]
    live = [f for f in facts if not f.retired]
    busiest = sorted(live, key=lambda f: (-f.arrival_rps, f.key))[:top]
    over = sorted((f for f in live if f.over_slo), key=lambda f: (f.slo_attainment or 0.0, f.key))[
        :top
    ]
    idle = sorted((f for f in live if f.idle), key=lambda f: (-f.gpus, f.key))[:top]
    short = sorted(
        (f for f in live if f.forecast_gap > 1.0), key=lambda f: (-f.forecast_gap, f.key)
    )[:top]
    shown = {f.key for group in (busiest, over, idle, short) for f in group}
    attention = sorted(
        (
            n
            for n in snapshot.nodes
            if n.cordoned
            or any(g.health != Health.HEALTHY for g in n.gpus)
            or 0 < n.free_gpus() < len(n.gpus)
        ),
        key=lambda n: (
            0 if any(g.health == Health.FAILED for g in n.gpus) else 1,
            0 if n.cordoned else 1,
            -n.free_gpus(),
            n.name,
        ),
    )[:top]
    return Salience(
        at=snapshot.at.isoformat(),
        nodes=len(snapshot.nodes),
        gpus=snapshot.total_gpus(),
        allocated_gpus=snapshot.allocated_gpus(),
        deployments=len(snapshot.deployments),
        busiest=tuple(busiest),
        over_slo=tuple(over),
        idle=tuple(idle),
        forecast_short=tuple(short),
        pools=pools(snapshot),
        attention_nodes=tuple(attention),
        omitted_models=len(live) - len(shown),
    )
