"""Builders for small, valid domain values: `make_snapshot`, `make_deployment`,
`make_tick_record`, all at `T0` unless told otherwise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gpusteward.core.actions import Evidence, Proposal, ScaleDeployment
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    Health,
    ModelDeployment,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
    WorkloadClass,
)
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ActionResult, Allow, ResultStatus, RuleHit

T0: Final = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
"""Default time of built values: a Monday noon, UTC."""


# -- builders ---------------------------------------------------------------------


def make_deployment(name: str = "llm-chat", **overrides: Any) -> ModelDeployment:
    """A valid realtime LLM deployment (2 replicas of 1 GPU); any field can be overridden."""
    fields: dict[str, Any] = {
        "name": name,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "replicas": 2,
        "gpus_per_replica": 1,
        "gpu_memory_gib_per_replica": 40.0,
        "min_replicas": 1,
        "max_replicas": 8,
        "cold_start_seconds": 120.0,
        "slo": Slo(queue_delay_seconds=0.5, ttft_p95_seconds=1.0),
    }
    fields.update(overrides)
    return ModelDeployment(**fields)


def _default_deployments() -> tuple[ModelDeployment, ...]:
    return (
        make_deployment(),
        make_deployment(
            "sdxl",
            model="stabilityai/stable-diffusion-xl-base-1.0",
            workload=WorkloadClass.BATCH,
            replicas=1,
            gpu_memory_gib_per_replica=24.0,
            min_replicas=0,
            max_replicas=4,
            cold_start_seconds=60.0,
            slo=Slo(queue_delay_seconds=30.0),
        ),
    )


def make_snapshot(
    *,
    at: datetime = T0,
    nodes: int | Sequence[Node] = 2,
    gpus_per_node: int = 4,
    gpu_type: str = "H100-80GB",
    pool: Pool = Pool.ON_PREM,
    price_per_gpu_hour: float = 2.5,
    deployments: Sequence[ModelDeployment] | None = None,
    metrics: Mapping[str, ServingMetrics] | None = None,
    load: float = 0.6,
    rps_per_replica: float = 10.0,
    interval_seconds: float = 60.0,
) -> ClusterSnapshot:
    """A small, consistent snapshot: by default 2 nodes x 4 H100s, an LLM and SDXL.

    `nodes` is a count of generated nodes, or the nodes themselves. Deployments without
    `replica_states` get READY replicas placed first-fit on free GPUs (PENDING when
    none fit). Each deployment gets metrics at `load` x its ready capacity unless
    `metrics` gives its own (keyed by `namespace/name`).
    """
    if isinstance(nodes, int):
        node_list = [
            Node(
                name=f"gpu-node-{i}",
                pool=pool,
                price_per_gpu_hour=price_per_gpu_hour,
                gpus=tuple(
                    Gpu(index=g, type=gpu_type, memory_gib=80.0) for g in range(gpus_per_node)
                ),
            )
            for i in range(nodes)
        ]
    else:
        node_list = list(nodes)
    placed = [_place(d, node_list) for d in (deployments or _default_deployments())]
    all_metrics = {d.key: _metrics(d, load, rps_per_replica) for d in placed}
    all_metrics.update(metrics or {})
    return ClusterSnapshot(
        at=at,
        nodes=tuple(node_list),
        deployments=tuple(placed),
        metrics=all_metrics,
        interval_seconds=interval_seconds,
    )


def _place(d: ModelDeployment, nodes: list[Node]) -> ModelDeployment:
    """Give `d` READY replicas on free GPUs, updating `nodes` in place (first fit)."""
    if d.replica_states or d.replicas == 0:
        return d
    replicas = []
    for r in range(d.replicas):
        replica_id = f"{d.name}-{r}"
        replica = Replica(id=replica_id, phase=ReplicaPhase.PENDING)
        for i, node in enumerate(nodes):
            free = [
                g.index for g in node.gpus if g.allocated_to is None and g.health == Health.HEALTHY
            ]
            if node.cordoned or len(free) < d.gpus_per_replica:
                continue
            taken = free[: d.gpus_per_replica]
            gpus = tuple(
                g.model_copy(update={"allocated_to": replica_id}) if g.index in taken else g
                for g in node.gpus
            )
            nodes[i] = node.model_copy(update={"gpus": gpus})
            replica = Replica(
                id=replica_id, phase=ReplicaPhase.READY, node=node.name, gpu_indices=tuple(taken)
            )
            break
        replicas.append(replica)
    return d.model_copy(update={"replica_states": tuple(replicas)})


def _metrics(d: ModelDeployment, load: float, rps_per_replica: float) -> ServingMetrics:
    capacity = d.count(ReplicaPhase.READY) * rps_per_replica
    arrival = load * capacity
    return ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=min(arrival, capacity),
        queue_depth=0,
        running=int(arrival),
        gpu_utilization=min(1.0, load),
        kv_cache_usage=min(1.0, load * 0.8),
        capacity_rps=capacity,
        slo_attainment=1.0 if load <= 1 else 1 / load,
    )


def make_tick_record(
    seq: int,
    *,
    at: datetime | None = None,
    snapshot: ClusterSnapshot | None = None,
    status: ResultStatus = ResultStatus.APPLIED,
    dry_run: bool = False,
) -> TickRecord:
    """A realistic tick: snapshot, forecast, one ScaleDeployment proposal, its Allow
    verdict and an ActionResult with `status`. Times default to T0 + seq minutes, so
    each seq gets its own action id."""
    at = at if at is not None else T0 + timedelta(minutes=seq)
    snap = snapshot if snapshot is not None else make_snapshot(at=at)
    deployment = snap.deployments[0]
    action = ScaleDeployment(
        issued_at=at,
        deployment=deployment.key,
        replicas=deployment.replicas + 1,
        from_replicas=deployment.replicas,
    )
    proposal = Proposal(
        action=action,
        reason="forecast p90 exceeds ready capacity within the cold-start time",
        evidence=(
            Evidence(name="forecast_p90_rps", value=23.5, unit="rps"),
            Evidence(name="capacity_rps", value=20.0, unit="rps"),
        ),
        planner="reactive",
    )
    verdict = Allow(
        action_id=action.id,
        policy_version="v1",
        rules=(RuleHit(rule="max-step", reason="step 1 <= 2", values={"step": 1, "max": 2}),),
    )
    forecast = Forecast(
        key=deployment.key,
        forecaster="last-value",
        made_at=at,
        step_seconds=60.0,
        points=(ForecastPoint(at=at + timedelta(minutes=5), point=20, p10=15, p50=20, p90=23.5),),
    )
    result = ActionResult(action_id=action.id, status=status, message=action.describe(), at=at)
    return TickRecord(
        seq=seq,
        at=at,
        snapshot=snap,
        forecasts=(forecast,),
        planner="reactive",
        proposals=(proposal,),
        verdicts=(verdict,),
        results=(result,),
        dry_run=dry_run,
    )
