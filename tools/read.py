"""Read tools: what the model may look at. None of them changes anything.

Cluster strings (names, labels) are returned as JSON string values, i.e. quoted data;
`clean` also strips control characters and caps their length.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pydantic import Field

from gpusteward.core.cluster import ModelDeployment, ReplicaPhase
from tools.actions_read import (
    RecentArgs,
    WhatIfArgs,
    recent_actions,
    recommendation,
    what_if,
)
from tools.base import InvalidArgument, Tool, ToolArgs, ToolResult, ToolRow
from tools.context import ToolContext
from tools.salience import ModelFacts, PoolFacts, model_facts, pools, salience
from tools.text import clean

__all__ = ["READ_TOOLS"]


def find_deployment(ctx: ToolContext, key: str, field: str = "deployment") -> ModelDeployment:
    d = ctx.snapshot.deployment(key)
    if d is None:
        keys = [x.key for x in ctx.snapshot.deployments]
        close = difflib.get_close_matches(key, keys, n=8, cutoff=0.3) or keys[:8]
        raise InvalidArgument(
            field, "no such deployment (namespace/name) in this snapshot", key, close
        )
    return d


class ModelBrief(ToolRow):
    deployment: str
    model: str
    workload: str
    replicas: int
    ready: int
    gpus: int
    arrival_rps: float
    capacity_rps: float
    gpu_utilisation: float
    queue_depth: int
    slo_attainment: float | None
    slo_target: float
    forecast_p90_rps: float | None
    recent_peak_rps: float | None


def brief(f: ModelFacts) -> ModelBrief:
    return ModelBrief(
        deployment=clean(f.key),
        model=clean(f.model),
        workload=f.workload,
        replicas=f.replicas,
        ready=f.ready,
        gpus=f.gpus,
        arrival_rps=round(f.arrival_rps, 3),
        capacity_rps=round(f.capacity_rps, 3),
        gpu_utilisation=round(f.utilisation, 3),
        queue_depth=f.queue_depth,
        slo_attainment=None if f.slo_attainment is None else round(f.slo_attainment, 4),
        slo_target=f.slo_target,
        forecast_p90_rps=None if f.forecast_p90_rps is None else round(f.forecast_p90_rps, 3),
        recent_peak_rps=None if f.recent_peak_rps is None else round(f.recent_peak_rps, 3),
    )


class PoolBrief(ToolRow):
    pool: str
    gpu_type: str
    nodes: int
    gpus: int
    free: int
    fragmented_free: int
    largest_free_block: int
    cordoned_nodes: int
    unhealthy_gpus: int


def pool_brief(p: PoolFacts) -> PoolBrief:
    return PoolBrief(
        pool=p.pool,
        gpu_type=clean(p.gpu_type),
        nodes=p.nodes,
        gpus=p.gpus,
        free=p.free,
        fragmented_free=p.fragmented_free,
        largest_free_block=p.largest_free_block,
        cordoned_nodes=p.cordoned,
        unhealthy_gpus=p.unhealthy_gpus,
    )


# -- cluster_summary ---------------------------------------------------------------


class SummaryArgs(ToolArgs):
    top: int = Field(default=8, ge=1, le=25, description="How many models per list.")


class ClusterSummary(ToolResult):
    at: str
    nodes: int
    gpus: int
    allocated_gpus: int
    deployments: int
    busiest: tuple[ModelBrief, ...]
    over_slo: tuple[ModelBrief, ...]
    idle: tuple[ModelBrief, ...]
    forecast_exceeds_capacity: tuple[ModelBrief, ...]
    pools: tuple[PoolBrief, ...]


def cluster_summary(args: SummaryArgs, ctx: ToolContext) -> ClusterSummary:
    s = salience(ctx.snapshot, ctx.inputs.forecasts, ctx.inputs.load, args.top)
    return ClusterSummary(
        at=s.at,
        nodes=s.nodes,
        gpus=s.gpus,
        allocated_gpus=s.allocated_gpus,
        deployments=s.deployments,
        busiest=tuple(brief(f) for f in s.busiest),
        over_slo=tuple(brief(f) for f in s.over_slo),
        idle=tuple(brief(f) for f in s.idle),
        forecast_exceeds_capacity=tuple(brief(f) for f in s.forecast_short),
        pools=tuple(pool_brief(p) for p in s.pools),
    )


# -- model_metrics -----------------------------------------------------------------


class ModelArgs(ToolArgs):
    deployment: str = Field(max_length=300, description="namespace/name")
    history_minutes: int = Field(default=60, ge=1, le=10_080, description="How far back.")


class ModelDetail(ToolResult):
    summary: ModelBrief
    namespace: str
    min_replicas: int
    max_replicas: int
    loading: int
    pending: int
    gpus_per_replica: int
    gpu_types: tuple[str, ...]
    pools: tuple[str, ...]
    cold_start_seconds: float
    slo_queue_delay_seconds: float
    queue_delay_p95_seconds: float | None
    kv_cache_usage: float | None
    labels: dict[str, str]
    history_step_minutes: float
    history_rps: tuple[float | None, ...] = Field(description="Oldest first; null = no data.")


def model_metrics(args: ModelArgs, ctx: ToolContext) -> ModelDetail:
    d = find_deployment(ctx, args.deployment)
    m = ctx.snapshot.metrics.get(d.key)
    series = ctx.inputs.load.get(d.key)
    facts = model_facts(d, m, ctx.inputs.forecasts.get(d.key), series)
    history: tuple[float | None, ...] = ()
    step_minutes = 0.0
    if series is not None and series.values:
        n = max(1, int(args.history_minutes * 60 // series.step_seconds))
        values = series.values[-n:]
        per = max(1, len(values) // 24)
        step_minutes = per * series.step_seconds / 60
        history = tuple(_mean(values[i : i + per]) for i in range(0, len(values), per))
    return ModelDetail(
        summary=brief(facts),
        namespace=clean(d.namespace),
        min_replicas=d.min_replicas,
        max_replicas=d.max_replicas,
        loading=d.count(ReplicaPhase.LOADING),
        pending=d.count(ReplicaPhase.PENDING),
        gpus_per_replica=d.gpus_per_replica,
        gpu_types=tuple(clean(t) for t in d.gpu_types),
        pools=tuple(p.value for p in d.pools),
        cold_start_seconds=d.cold_start_seconds,
        slo_queue_delay_seconds=d.slo.queue_delay_seconds,
        queue_delay_p95_seconds=m.queue_delay_p95_seconds if m else None,
        kv_cache_usage=m.kv_cache_usage if m else None,
        labels={clean(k, 60): clean(v, 120) for k, v in list(d.labels.items())[:20]},
        history_step_minutes=step_minutes,
        history_rps=history,
    )


def _mean(values: Sequence[float | None]) -> float | None:
    seen = [v for v in values if v is not None]
    return round(sum(seen) / len(seen), 3) if seen else None


# -- forecasts ---------------------------------------------------------------------


class ForecastArgs(ToolArgs):
    deployments: tuple[str, ...] = Field(min_length=1, max_length=20)


class ForecastBrief(ToolRow):
    deployment: str
    forecaster: str
    fallback: bool
    notes: tuple[str, ...]
    lead_seconds: float
    p10_rps: float
    p50_rps: float
    p90_rps: float
    peak_p90_rps: float
    capacity_rps: float
    replicas_for_p90: int | None


class ForecastResult(ToolResult):
    forecasts: tuple[ForecastBrief, ...]
    missing: tuple[str, ...] = Field(default=(), description="Deployments with no forecast.")


def forecasts(args: ForecastArgs, ctx: ToolContext) -> ForecastResult:
    out, missing = [], []
    for i, key in enumerate(args.deployments):
        d = find_deployment(ctx, key, f"deployments.{i}")
        f = ctx.inputs.forecasts.get(d.key)
        point = f.at_or_after(d.cold_start_seconds) if f is not None else None
        if f is None or point is None:
            missing.append(clean(key))
            continue
        m = ctx.snapshot.metrics.get(d.key)
        ready = d.count(ReplicaPhase.READY)
        capacity = m.capacity_rps if m else 0.0
        per_replica = capacity / ready if ready else 0.0
        need = int(-(-point.p90 // per_replica)) if per_replica > 0 else None
        out.append(
            ForecastBrief(
                deployment=clean(d.key),
                forecaster=clean(f.forecaster, 40),
                fallback=f.fallback,
                notes=tuple(clean(n, 160) for n in f.notes[:3]),
                lead_seconds=d.cold_start_seconds,
                p10_rps=round(point.p10, 3),
                p50_rps=round(point.p50, 3),
                p90_rps=round(point.p90, 3),
                peak_p90_rps=round(max(p.p90 for p in f.points), 3),
                capacity_rps=round(capacity, 3),
                replicas_for_p90=need,
            )
        )
    return ForecastResult(forecasts=tuple(out), missing=tuple(missing))


# -- idle_models -------------------------------------------------------------------


class IdleArgs(ToolArgs):
    hours: int = Field(default=24, ge=1, le=168, description="Look-back window.")
    max_rps: float = Field(default=0.0, ge=0, description="Idle: peak rate at or below this.")
    max_utilisation: float = Field(
        default=0.15, ge=0, le=1, description="Underused: GPU utilisation below this."
    )
    limit: int = Field(default=20, ge=1, le=50)


class IdleResult(ToolResult):
    idle: tuple[ModelBrief, ...]
    underused: tuple[ModelBrief, ...]
    idle_gpus: int


def idle_models(args: IdleArgs, ctx: ToolContext) -> IdleResult:
    idle, under = [], []
    for d in ctx.snapshot.deployments:
        if d.retired or d.replicas == 0:
            continue
        series = ctx.inputs.load.get(d.key)
        points = int(args.hours * 3600 // series.step_seconds) if series else 0
        f = model_facts(
            d, ctx.snapshot.metrics.get(d.key), ctx.inputs.forecasts.get(d.key), series, points
        )
        peak = max(f.recent_peak_rps or 0.0, f.arrival_rps)
        if peak <= args.max_rps:
            idle.append(f)
        elif f.utilisation < args.max_utilisation:
            under.append(f)
    idle.sort(key=lambda f: (-f.gpus, f.key))
    under.sort(key=lambda f: (f.utilisation, f.key))
    return IdleResult(
        idle=tuple(brief(f) for f in idle[: args.limit]),
        underused=tuple(brief(f) for f in under[: args.limit]),
        idle_gpus=sum(f.gpus for f in idle),
    )


# -- pool_fragmentation ------------------------------------------------------------


class NoArgs(ToolArgs):
    pass


class NodeBrief(ToolRow):
    node: str
    pool: str
    gpu_type: str
    gpus: int
    free: int
    cordoned: bool
    unhealthy_gpus: int


class FragmentationResult(ToolResult):
    pools: tuple[PoolBrief, ...]
    most_fragmented_nodes: tuple[NodeBrief, ...]


def pool_fragmentation(args: NoArgs, ctx: ToolContext) -> FragmentationResult:
    partial = [n for n in ctx.snapshot.nodes if 0 < n.free_gpus() < len(n.gpus)]
    partial.sort(key=lambda n: (-n.free_gpus(), n.name))
    return FragmentationResult(
        pools=tuple(pool_brief(p) for p in pools(ctx.snapshot)),
        most_fragmented_nodes=tuple(
            NodeBrief(
                node=clean(n.name),
                pool=n.pool.value,
                gpu_type=clean(n.gpu_type),
                gpus=len(n.gpus),
                free=n.free_gpus(),
                cordoned=n.cordoned,
                unhealthy_gpus=sum(1 for g in n.gpus if g.health.value != "healthy"),
            )
            for n in partial[:15]
        ),
    )


READ_TOOLS: tuple[Tool[ToolArgs], ...] = (
    Tool(
        "cluster_summary",
        "Cluster totals, GPU pools, and the busiest / over-SLO / idle models and those whose "
        "forecast exceeds their capacity.",
        SummaryArgs,
        cluster_summary,  # type: ignore[arg-type]
    ),
    Tool(
        "model_metrics",
        "One deployment's spec, serving metrics and request-rate history.",
        ModelArgs,
        model_metrics,  # type: ignore[arg-type]
    ),
    Tool(
        "forecasts",
        "Forecast request rate (p10/p50/p90) at each deployment's cold-start lead.",
        ForecastArgs,
        forecasts,  # type: ignore[arg-type]
    ),
    Tool(
        "idle_models",
        "Deployments with no traffic in the window, and underused ones.",
        IdleArgs,
        idle_models,  # type: ignore[arg-type]
    ),
    Tool(
        "pool_fragmentation",
        "Free and fragmented GPUs per pool and GPU type; the most fragmented nodes.",
        NoArgs,
        pool_fragmentation,  # type: ignore[arg-type]
    ),
    Tool(
        "recent_actions",
        "Actions executed recently and their outcome.",
        RecentArgs,
        recent_actions,  # type: ignore[arg-type]
    ),
    Tool(
        "recommendation",
        "What the deterministic capacity planner would do this tick.",
        NoArgs,
        recommendation,
    ),
    Tool(
        "what_if",
        "Simulate actions on a copy of the cluster for the horizon: projected GPU-hours, cost "
        "and SLO attainment with and without them. Changes nothing.",
        WhatIfArgs,
        what_if,  # type: ignore[arg-type]
    ),
)
