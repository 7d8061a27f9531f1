"""Per-replica capacity at SLO, learned online, and how many replicas a demand needs.

Two things are learned. A replica's raw throughput depends on its GPU type. The prior
(requests/s per replica per GPU type, from the model's profile) is refined every tick
from the observed capacity of the ready replicas: when they all share one GPU type the
estimate moves towards the observed per-replica value; with mixed types every type's
estimate is scaled by the ratio of observed to predicted. `replicas_for` adds replicas
in the order a scheduler keeps and places them: the replicas that exist first, then
free GPUs from the cheapest allowed node.

With `at_slo=True`, demand is converted to the raw capacity it needs at SLO: divided by
the highest utilisation at which the deployment's queueing-delay SLO still holds
(`agents.slo_capacity`), given the load's burstiness. The burstiness is learned online
from per-tick arrival counts (`DispersionEstimator` by default; the forecast planner's
`dispersion_estimator` setting may name `VariogramDispersionEstimator`), or fixed per
deployment (`burstiness=`, what the oracle knows). Without it, capacities are raw throughput (what
the utilisation-target baselines use).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from agents.slo_capacity import BurstinessEstimator, DispersionEstimator, utilisation_at_slo
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Health,
    ModelDeployment,
    Node,
    Pool,
    ReplicaPhase,
    ServingMetrics,
    WorkloadClass,
)
from gpusteward.core.remembered import Remembers

Priors = Mapping[str, Mapping[str, float]]
"""deployment key -> GPU type -> requests/s one replica serves at its SLO."""

_KEEP_ORDER = {ReplicaPhase.READY: 0, ReplicaPhase.LOADING: 1, ReplicaPhase.PENDING: 2}


class CapacityModel(Remembers):
    """Learned requests/s per replica, per deployment and GPU type (small: its checkpoint
    state is `remembers`)."""

    # what it learns; priors, learning rate and at_slo come from the scenario on resume
    remembers = ("estimates", "observations", "burstiness", "dispersion")

    def __init__(
        self,
        priors: Priors | None = None,
        learning_rate: float = 0.2,
        *,
        at_slo: bool = False,
        burstiness: Mapping[str, float] | None = None,
        dispersion: BurstinessEstimator | None = None,
    ) -> None:
        self.estimates: dict[str, dict[str, float]] = {
            k: dict(v) for k, v in (priors or {}).items()
        }
        self.learning_rate = learning_rate
        self.observations: Counter[str] = Counter()
        self.at_slo = at_slo
        self.burstiness = dict(burstiness or {})
        self.dispersion: BurstinessEstimator = dispersion or DispersionEstimator()
        # The last ladder built (snapshot, key, ladder): a planner asks for the same
        # deployment's ladder several times a tick. Not kept in a checkpoint.
        self._ladder: tuple[ClusterSnapshot, ModelDeployment, list[float]] | None = None

    def observe(self, snapshot: ClusterSnapshot) -> None:
        self._ladder = None  # the estimates move: ladders built before are stale
        for d in snapshot.deployments:
            m = snapshot.metrics.get(d.key)
            if m is not None:
                self.dispersion.observe(d.key, m.arrival_rate_rps * snapshot.interval_seconds)
                self._observe_one(snapshot, d, m)

    def cv(self, key: str) -> float:
        """Burstiness of `key`'s arrivals: fixed when given, else learned."""
        if key in self.burstiness:
            return self.burstiness[key]
        return self.dispersion.cv(key)

    def utilisation(self, d: ModelDeployment, demand_rps: float, step_seconds: float) -> float:
        """Share of raw capacity that `demand_rps` may use with `d`'s SLO still met (1 when
        the model is not SLO-aware)."""
        if not self.at_slo:
            return 1.0
        return utilisation_at_slo(
            demand_rps,
            cv=self.cv(d.key),
            slo_seconds=d.slo.queue_delay_seconds,
            step_seconds=step_seconds,
            attainment=d.slo.attainment_target,
        )

    def _observe_one(self, snap: ClusterSnapshot, d: ModelDeployment, m: ServingMetrics) -> None:
        types = ready_types(snap, d)
        if not types or m.capacity_rps <= 0:
            return
        est = self.estimates.setdefault(d.key, {})
        if len(types) == 1:
            ((gpu, n),) = types.items()
            observed = m.capacity_rps / n
            old = est.get(gpu)
            est[gpu] = observed if old is None else old + self.learning_rate * (observed - old)
        else:
            predicted = sum(est.get(t, 0.0) * n for t, n in types.items())
            if predicted <= 0:
                per = m.capacity_rps / sum(types.values())
                for t in types:
                    est.setdefault(t, per)
                return
            factor = 1 + self.learning_rate * (m.capacity_rps / predicted - 1)
            for t in types:
                if t in est:
                    est[t] *= factor
        self.observations[d.key] += 1

    def per_replica(self, key: str, gpu_type: str) -> float:
        est = self.estimates.get(key, {})
        if gpu_type in est:
            return est[gpu_type]
        return min(est.values()) if est else 0.0

    def knows(self, key: str) -> bool:
        """Whether any capacity per replica is known for `key` (a prior or an observation):
        without one, `replicas_for` can only answer `max_replicas`."""
        return any(v > 0 for v in self.estimates.get(key, {}).values())

    def mean_per_replica(self, key: str) -> float:
        est = self.estimates.get(key, {})
        return sum(est.values()) / len(est) if est else 0.0

    def ladder(self, snap: ClusterSnapshot, d: ModelDeployment, limit: int) -> list[float]:
        """Capacity of the 1st, 2nd, ... replica, up to `limit` replicas."""
        cached = self._ladder
        if cached is not None and cached[0] is snap and cached[1] is d:
            full = cached[2]
        else:
            full = self._build_ladder(snap, d, max(limit, d.max_replicas))
            self._ladder = (snap, d, full)
        if len(full) >= limit:
            return full[:limit]
        return self._build_ladder(snap, d, limit)

    def _build_ladder(self, snap: ClusterSnapshot, d: ModelDeployment, limit: int) -> list[float]:
        out: list[float] = []
        node_type = {n.name: n.gpu_type for n in snap.nodes}
        kept = sorted(d.replica_states, key=lambda r: _KEEP_ORDER[r.phase])
        for r in kept:
            if len(out) >= limit:
                return out
            if r.node is not None:
                out.append(self.per_replica(d.key, node_type.get(r.node, "")))
        for gpu_type in free_slots(snap, d):
            if len(out) >= limit:
                break
            out.append(self.per_replica(d.key, gpu_type))
        fallback = self.mean_per_replica(d.key)
        out.extend([fallback] * (limit - len(out)))
        return out

    def replicas_for(self, snap: ClusterSnapshot, d: ModelDeployment, demand_rps: float) -> int:
        """Fewest replicas whose summed capacity (at SLO when `at_slo`) covers `demand_rps`
        (max_replicas at most)."""
        if demand_rps <= 0:
            return 0
        demand_rps /= self.utilisation(d, demand_rps, snap.interval_seconds)
        total = 0.0
        for i, cap in enumerate(self.ladder(snap, d, d.max_replicas), start=1):
            total += cap
            if total >= demand_rps:
                return i
        return d.max_replicas

    def backlog_at(
        self, snap: ClusterSnapshot, d: ModelDeployment, m: ServingMetrics, seconds: float
    ) -> float:
        """The queue `seconds` from now if arrivals keep their rate and the loading replicas
        come up as scheduled, each at its GPU type's throughput: what replicas started now
        will find to drain when they are ready. Timeouts are not modelled (an upper bound)."""
        node_type = {n.name: n.gpu_type for n in snap.nodes}
        placed = [
            (r, self.per_replica(d.key, node_type.get(r.node, "")))
            for r in d.replica_states
            if r.node is not None
        ]
        # from the replicas' states, not `m.capacity_rps`: that is the last interval's
        capacity = sum(c for r, c in placed if r.phase is ReplicaPhase.READY)
        coming = sorted(
            (min(r.ready_in_seconds, seconds), c)
            for r, c in placed
            if r.phase is ReplicaPhase.LOADING
        )
        queue, t, rate = float(m.queue_depth), 0.0, m.arrival_rate_rps
        for at, added in coming:
            queue = max(0.0, queue + (rate - capacity) * (at - t))
            t, capacity = at, capacity + added
        return max(0.0, queue + (rate - capacity) * (seconds - t))

    def capacity_of(self, snap: ClusterSnapshot, d: ModelDeployment, replicas: int) -> float:
        return sum(self.ladder(snap, d, replicas))


def ready_types(snap: ClusterSnapshot, d: ModelDeployment) -> Counter[str]:
    node_type = {n.name: n.gpu_type for n in snap.nodes}
    return Counter(
        node_type.get(r.node, "")
        for r in d.replica_states
        if r.phase is ReplicaPhase.READY and r.node is not None
    )


def can_host(d: ModelDeployment, n: Node, *, any_gpu_type: bool = False) -> bool:
    """Whether node `n` may hold a replica of `d`: schedulable, an allowed pool (realtime
    never on a training pool), enough GPU memory, and one of `d`'s GPU types unless
    `any_gpu_type` (when choosing a new type)."""
    if n.cordoned or not n.gpus:
        return False
    if not any_gpu_type and d.gpu_types and n.gpu_type not in d.gpu_types:
        return False
    if d.pools and n.pool not in d.pools:
        return False
    if d.workload is WorkloadClass.REALTIME and n.pool is Pool.TRAINING:
        return False
    return n.gpus[0].memory_gib >= d.gpu_memory_gib_per_replica


def free_slots(snap: ClusterSnapshot, d: ModelDeployment) -> list[str]:
    """GPU type of each replica that could still be placed, cheapest node first."""
    slots: list[tuple[float, int, str, str]] = []
    for n in snap.nodes:
        if not can_host(d, n):
            continue
        free = sum(1 for g in n.gpus if g.allocated_to is None and g.health != Health.FAILED)
        allocated = sum(1 for g in n.gpus if g.allocated_to is not None)
        for _ in range(free // d.gpus_per_replica):
            slots.append((n.price_per_gpu_hour, -allocated, n.name, n.gpu_type))
    slots.sort()
    return [s[3] for s in slots]
