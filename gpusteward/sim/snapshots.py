"""Turns the simulator's mutable state into an immutable `ClusterSnapshot`, cheaply.

Frozen `Node` and `ModelDeployment` objects are reused while their source has not
changed (tracked by version counters), and built with `model_construct` since the state
they come from is already valid. Serving metrics cover the steps since the previous
snapshot; accounting is cumulative.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    Health,
    ModelAccounting,
    ModelDeployment,
    Node,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    TokenAccounting,
)
from gpusteward.sim.fleet import DeploymentState, Fleet, NodeState, ReplicaState
from gpusteward.sim.queueing import Piece, pieces_quantile
from gpusteward.sim.state import IntervalTally, SimState, Tally
from gpusteward.sim.tokens import TokenTally


def _node(state: NodeState) -> Node:
    g = state.group
    gpus = tuple(
        Gpu.model_construct(
            index=i,
            type=g.gpu_type,
            memory_gib=g.gpu_memory_gib,
            health=Health.FAILED if until > 0.0 else Health.HEALTHY,
            allocated_to=owner,
        )
        for i, (owner, until) in enumerate(zip(state.allocated, state.failed_until, strict=True))
    )
    return Node.model_construct(
        name=state.name,
        pool=g.pool,
        region=g.region,
        price_per_gpu_hour=g.price_per_gpu_hour,
        gpus=gpus,
        cordoned=state.cordoned,
        labels={"node-group": g.name},
    )


def _replica(
    r: ReplicaState, fleet: Fleet, phase: ReplicaPhase, ready_in: float, **draining: Any
) -> Replica:
    """The snapshot's view of one replica (a draining one also says what it has in flight
    and when its drain ends)."""
    return Replica.model_construct(
        id=r.id,
        phase=phase,
        node=fleet.nodes[r.node].name if r.node is not None else None,
        gpu_indices=r.gpu_indices,
        ready_in_seconds=ready_in,
        **draining,
    )


def _deployment(
    dep: DeploymentState, fleet: Fleet, now: float, routed_to: str | None
) -> ModelDeployment:
    spec = dep.spec
    loading = ReplicaPhase.LOADING
    replicas = tuple(
        _replica(r, fleet, r.phase, max(0.0, r.ready_at - now) if r.phase is loading else 0.0)
        for r in dep.replicas
    )
    draining = tuple(
        _replica(
            r,
            fleet,
            ReplicaPhase.DRAINING,
            0.0,
            in_flight=fleet.in_flight_now(dep, r, now),
            drain_ends_in_seconds=max(0.0, r.drain_end - now),
        )
        for r in dep.draining
    )
    return ModelDeployment.model_construct(
        name=spec.name,
        namespace=spec.namespace,
        model=spec.model or spec.name,
        version=spec.version,
        workload=spec.workload,
        replicas=dep.desired,
        gpus_per_replica=spec.gpus_per_replica,
        gpu_memory_gib_per_replica=spec.gpu_memory_gib,
        gpu_types=dep.gpu_types,
        pools=dep.pools,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        cold_start_seconds=spec.cold_start_seconds,
        slo=spec.slo,
        replica_states=replicas,
        draining=draining,
        retired=dep.retired,
        labels=dict(spec.labels),
        adapters=tuple(dep.adapters),
        routed_to=routed_to,
        intent=spec.intent if now >= spec.intent_after_seconds else None,
        capacity_windows=tuple(dep.windows),
    )


def _nearest_rank(parts: list[np.ndarray], q: float) -> float:
    """The q-quantile (nearest rank) of the values in `parts` (a partial sort: cheap)."""
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    k = min(len(values) - 1, max(0, round(q * len(values)) - 1))
    return float(np.partition(values, k)[k])


def _weighted_median(levels: list[tuple[float, int]]) -> float:
    """The median of values given as (value, how many) pairs (a step's few TPOT levels)."""
    ordered = sorted(levels)
    half = sum(n for _, n in ordered) / 2
    seen = 0
    for value, n in ordered:
        seen += n
        if seen >= half:
            return value
    return ordered[-1][0]


def _metrics(
    iv: IntervalTally, depth: int, interval: float, batch_efficiency: float = 1.0
) -> ServingMetrics:
    """`batch_efficiency` < 1: a saturated replica's GPUs are only that share busy."""
    pieces: list[Piece] = list(iv.pieces)
    if iv.zero_delay:
        pieces.append((iv.zero_delay, 0.0, 0.0))
    done = iv.served + iv.dropped
    ttft_p95 = itl_p50 = None
    if iv.ttft:
        ttft_p95 = _nearest_rank(iv.ttft, 0.95)
        itl_p50 = _weighted_median(iv.tpot)
    return ServingMetrics.model_construct(
        ttft_p95_seconds=ttft_p95,
        itl_p50_seconds=itl_p50,
        arrival_rate_rps=(iv.arrived + iv.addressed) / interval,
        served_rate_rps=iv.served / interval,
        queue_depth=depth,
        running=iv.running,
        dropped=iv.dropped,
        queue_delay_p95_seconds=pieces_quantile(pieces, 0.95),
        gpu_utilization=min(1.0, iv.served / iv.capacity) * batch_efficiency
        if iv.capacity > 0
        else 0.0,
        capacity_rps=iv.capacity / interval,
        slo_attainment=min(1.0, iv.within_slo / done) if done else None,
    )


def token_accounting(t: Tally, seconds: float) -> TokenAccounting | None:
    """The run's per-token figures of one deployment (None for a model without tokens)."""
    k: TokenTally | None = t.tokens
    if k is None:
        return None
    served = k.requests > 0
    work = k.prefill_seconds + k.decode_seconds
    gpu_seconds = t.gpu_hours * 3600.0
    ttft = k.ttft.quantiles((0.5, 0.95)) if served else (None, None)
    tpot = k.tpot.quantiles((0.5, 0.95)) if served else (None, None)
    return TokenAccounting.model_construct(
        requests=k.requests,
        input_tokens=float(k.input_tokens),
        output_tokens=float(k.output_tokens),
        seconds=seconds,
        ttft_p50_seconds=ttft[0],
        ttft_p95_seconds=ttft[1],
        tpot_p50_seconds=tpot[0],
        tpot_p95_seconds=tpot[1],
        gpu_hours=t.gpu_hours,
        cost_usd=t.cost_usd,
        input_cost_share=k.prefill_seconds / work if work > 0 else 0.5,
        idle_gpu_share=(
            min(1.0, max(0.0, 1.0 - k.busy_gpu_seconds / gpu_seconds)) if gpu_seconds else None
        ),
    )


def _accounting(t: Tally, queued: int, seconds: float) -> ModelAccounting:
    return ModelAccounting.model_construct(
        tokens=token_accounting(t, seconds),
        arrived=t.arrived,
        served=t.served,
        dropped=t.dropped,
        queued=queued,
        served_within_slo=t.served_within_slo,
        gpu_hours=t.gpu_hours,
        cost_usd=t.cost_usd,
        queue_delay_p95_seconds=t.delays.quantile(0.95),
        dropped_on_removal=t.dropped_on_removal,
        dropped_on_failure=t.dropped_on_failure,
    )


class SnapshotBuilder:
    """Builds snapshots; keeps caches only, so it is not part of a checkpoint."""

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[int, Node]] = {}
        self._deployments: dict[str, tuple[tuple[int, bool], ModelDeployment]] = {}
        self._metrics: dict[str, ServingMetrics] = {}
        self._interval = 0.0

    def _node_objects(self, fleet: Fleet) -> tuple[Node, ...]:
        out = []
        for i, state in enumerate(fleet.nodes):
            cached = self._nodes.get(i)
            if cached is None or cached[0] != state.version:
                cached = (state.version, _node(state))
                self._nodes[i] = cached
            out.append(cached[1])
        return tuple(out)

    def _deployment_objects(
        self, fleet: Fleet, now: float, routes: dict[str, str]
    ) -> tuple[ModelDeployment, ...]:
        out = []
        for key, dep in fleet.deployments.items():
            cached = self._deployments.get(key)
            # loading and draining replicas change with time: such a deployment is rebuilt
            loading = bool(dep.draining) or any(
                r.phase is ReplicaPhase.LOADING for r in dep.replicas
            )
            version = (dep.version, now >= dep.spec.intent_after_seconds)  # a note appears
            if loading or cached is None or cached[0] != version:
                cached = (version, _deployment(dep, fleet, now, routes.get(key)))
                if not loading:
                    self._deployments[key] = cached
            out.append(cached[1])
        return tuple(out)

    def build(self, state: SimState, at: datetime, now: float, dt: float) -> ClusterSnapshot:
        """Snapshot at `at` (= `now` seconds since start); resets the interval counters."""
        steps = next(iter(state.intervals.values())).steps
        if steps:
            self._interval = steps * dt
            deps = state.fleet.deployments
            self._metrics = {
                key: _metrics(
                    iv, state.queues[key].depth, self._interval, deps[key].spec.batch_efficiency
                )
                for key, iv in state.intervals.items()
            }
            state.intervals = {key: IntervalTally() for key in state.intervals}
        elif not self._metrics:  # no step yet: an empty interval of one step
            self._interval = dt
            self._metrics = {
                key: _metrics(IntervalTally(), state.queues[key].depth, dt)
                for key in state.intervals
            }
        return ClusterSnapshot.model_construct(
            at=at,
            nodes=self._node_objects(state.fleet),
            deployments=self._deployment_objects(state.fleet, now, state.routes),
            metrics=dict(self._metrics),
            accounting={
                key: _accounting(t, state.queues[key].depth, now)
                for key, t in state.tallies.items()
            },
            interval_seconds=self._interval,
        )
