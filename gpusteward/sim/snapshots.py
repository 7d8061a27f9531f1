"""Turns the simulator's mutable state into an immutable `ClusterSnapshot`, cheaply.

Frozen `Node` and `ModelDeployment` objects are reused while their source has not
changed (tracked by version counters), and built with `model_construct` since the state
they come from is already valid. Serving metrics cover the steps since the previous
snapshot; accounting is cumulative.
"""

from __future__ import annotations

from datetime import datetime

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
)
from gpusteward.sim.fleet import DeploymentState, Fleet, NodeState
from gpusteward.sim.queueing import Piece, pieces_quantile
from gpusteward.sim.state import IntervalTally, SimState, Tally


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


def _deployment(
    dep: DeploymentState, fleet: Fleet, now: float, routed_to: str | None
) -> ModelDeployment:
    spec = dep.spec
    replicas = tuple(
        Replica.model_construct(
            id=r.id,
            phase=r.phase,
            node=fleet.nodes[r.node].name if r.node is not None else None,
            gpu_indices=r.gpu_indices,
            ready_in_seconds=max(0.0, r.ready_at - now) if r.phase is ReplicaPhase.LOADING else 0.0,
        )
        for r in dep.replicas
    )
    draining = tuple(
        Replica.model_construct(
            id=r.id,
            phase=ReplicaPhase.DRAINING,
            node=fleet.nodes[r.node].name if r.node is not None else None,
            gpu_indices=r.gpu_indices,
            ready_in_seconds=0.0,
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


def _metrics(
    iv: IntervalTally, depth: int, interval: float, batch_efficiency: float = 1.0
) -> ServingMetrics:
    """`batch_efficiency` < 1: a saturated replica's GPUs are only that share busy."""
    pieces: list[Piece] = list(iv.pieces)
    if iv.zero_delay:
        pieces.append((iv.zero_delay, 0.0, 0.0))
    done = iv.served + iv.dropped
    return ServingMetrics.model_construct(
        arrival_rate_rps=iv.arrived / interval,
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


def _accounting(t: Tally, queued: int) -> ModelAccounting:
    return ModelAccounting.model_construct(
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
                key: _accounting(t, state.queues[key].depth) for key, t in state.tallies.items()
            },
            interval_seconds=self._interval,
        )
