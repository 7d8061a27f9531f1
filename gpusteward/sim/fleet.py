"""The simulator's mutable cluster: nodes with GPUs, deployments with replicas, and placement.

Reconciling moves each deployment towards its desired replica count: missing replicas
are created Pending, surplus ones removed (Pending first, then Loading, then Ready,
newest first). A Pending replica starts (Loading) only on a schedulable node with enough
free healthy GPUs of an allowed type, pool and memory: cheapest node first, then the most
allocated (packing), then by name. After a move, replicas on nodes the deployment may no
longer use are kept while they are needed for capacity (surge: no dip), and stopped one by
one as matching replicas become Ready. A replica move (`start_replacement`) starts the
new replica on the chosen node at once and stops the old one when the new one is Ready;
until then the old one serves and only the new one counts towards the desired replicas
(a scale-down that removes the new one cancels the move).

Drain before removing: a Ready replica that a scale-down, a consolidation or a finished
move takes away leaves `replicas` for `draining`. It takes no new requests, keeps its GPUs
and finishes what it has in flight: the remaining run time of an in-flight request is
exponential with the model's mean request time, cut at its longest request (a server's
max tokens), so the drain lasts until the last of them is expected done, or until the
termination grace period, when those still running are killed (counted as dropped on
removal). A replica with nothing in flight, or not yet Ready, goes at once. A fault kills
a replica's in-flight requests (dropped on failure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gpusteward.core.cluster import CapacityWindow, Pool, ReplicaPhase
from gpusteward.sim.spec import ModelSpec, NodeGroupSpec

_REMOVAL_ORDER = {ReplicaPhase.PENDING: 0, ReplicaPhase.LOADING: 1, ReplicaPhase.READY: 2}


@dataclass
class NodeState:
    name: str
    group: NodeGroupSpec
    allocated: list[str | None]  # replica id per GPU index
    failed_until: list[float]  # GPU is FAILED while now < failed_until
    cordoned: bool = False
    version: int = 0  # bumped on every change, for snapshot caching

    @property
    def allocated_count(self) -> int:
        return sum(1 for a in self.allocated if a is not None)

    def free_indices(self, now: float) -> list[int]:
        return [
            i
            for i, (a, f) in enumerate(zip(self.allocated, self.failed_until, strict=True))
            if a is None and f <= now
        ]


@dataclass
class ReplicaState:
    id: str
    seq: int
    phase: ReplicaPhase = ReplicaPhase.PENDING
    node: int | None = None  # index into Fleet.nodes
    gpu_indices: tuple[int, ...] = ()
    ready_at: float = 0.0  # seconds since start; meaningful once placed
    replaces: str | None = None  # id of the replica this one replaces once Ready (a move)
    in_flight: float = 0.0  # requests running on it (mean over the last step served)
    drain_start: float = 0.0  # draining: when it was taken out of service
    drain_end: float = 0.0  # draining: when it is removed
    doomed: float = 0.0  # draining: in-flight requests still running at the grace's end


@dataclass
class DeploymentState:
    spec: ModelSpec
    desired: int
    gpu_types: tuple[str, ...]
    pools: tuple[Pool, ...]
    replicas: list[ReplicaState] = field(default_factory=list)
    draining: list[ReplicaState] = field(default_factory=list)  # out of service, finishing
    killed: float = 0.0  # in-flight requests killed on removal, not yet tallied
    lost: float = 0.0  # in-flight requests killed by faults, not yet tallied
    parked: bool = False  # scaled to zero, and no replica Ready since: requests are held
    adapters: list[str] = field(default_factory=list)  # merged deployments it serves
    retired: bool = False
    next_seq: int = 0
    moving: bool = False  # replicas may sit on nodes the deployment no longer allows
    version: int = 0
    windows: list[CapacityWindow] = field(default_factory=list)  # approved schedules

    @property
    def key(self) -> str:
        return self.spec.key

    def allows(self, node: NodeState) -> bool:
        group = node.group
        return (
            group.gpu_type in self.gpu_types
            and (not self.pools or group.pool in self.pools)
            and group.gpu_memory_gib >= self.spec.gpu_memory_gib
        )


class Fleet:
    """Nodes and deployments, mutated step by step by the engine and by actions."""

    def __init__(self, node_groups: tuple[NodeGroupSpec, ...], models: tuple[ModelSpec, ...]):
        self.nodes: list[NodeState] = [
            NodeState(
                name=f"{g.name}-{i}",
                group=g,
                allocated=[None] * g.gpus_per_node,
                failed_until=[0.0] * g.gpus_per_node,
            )
            for g in node_groups
            for i in range(g.count)
        ]
        self.node_index = {n.name: i for i, n in enumerate(self.nodes)}
        self.deployments: dict[str, DeploymentState] = {
            m.key: DeploymentState(
                spec=m,
                desired=m.replicas,
                gpu_types=tuple(m.profile.throughput_rps),
                pools=m.pools,
                parked=m.replicas == 0,
            )
            for m in models
        }
        self.placement_dirty = True

    # -- replicas ---------------------------------------------------------------------

    def _new_replica(self, dep: DeploymentState) -> None:
        dep.replicas.append(ReplicaState(id=f"{dep.spec.name}-{dep.next_seq}", seq=dep.next_seq))
        dep.next_seq += 1
        dep.version += 1
        self.placement_dirty = True

    def _free(self, rep: ReplicaState) -> None:
        if rep.node is not None:
            node = self.nodes[rep.node]
            for i in rep.gpu_indices:
                if node.allocated[i] == rep.id:
                    node.allocated[i] = None
            node.version += 1
            self.placement_dirty = True

    def remove_replica(self, dep: DeploymentState, rep: ReplicaState) -> None:
        """Stop a replica now and free its GPUs (whatever it has in flight is lost)."""
        self._free(rep)
        dep.replicas.remove(rep)
        dep.version += 1

    def drain_replica(self, dep: DeploymentState, rep: ReplicaState, now: float) -> None:
        """Take a replica out of service: it finishes its in-flight requests (within the
        grace period) before its GPUs are freed; with nothing in flight it goes now."""
        spec = dep.spec
        if rep.phase is not ReplicaPhase.READY or rep.in_flight <= 0 or spec.request_seconds <= 0:
            self.remove_replica(dep, rep)
            return
        dep.replicas.remove(rep)
        last = last_finish_seconds(
            rep.in_flight, spec.request_seconds, spec.longest_request_seconds
        )
        grace = spec.termination_grace_seconds
        rep.phase, rep.drain_start = ReplicaPhase.DRAINING, now
        rep.drain_end = now + min(last, grace)
        rep.doomed = 0.0
        if grace < last or grace == 0:
            rep.doomed = rep.in_flight * still_running(
                grace, spec.request_seconds, spec.longest_request_seconds
            )
        dep.draining.append(rep)
        dep.version += 1

    def finish_drains(self, now: float) -> None:
        """Remove the draining replicas whose drain is over; their doomed requests die."""
        for dep in self.deployments.values():
            for rep in [r for r in dep.draining if r.drain_end <= now]:
                dep.killed += rep.doomed
                self._free(rep)
                dep.draining.remove(rep)
                dep.version += 1

    def in_flight_now(self, dep: DeploymentState, rep: ReplicaState, now: float) -> float:
        """Requests a draining replica still runs at `now`."""
        spec = dep.spec
        if spec.request_seconds <= 0:
            return 0.0
        share = still_running(
            max(0.0, now - rep.drain_start), spec.request_seconds, spec.longest_request_seconds
        )
        return rep.in_flight * share

    def lose_replicas_on(self, node_i: int, gpu_indices: set[int] | None = None) -> list[str]:
        """Remove replicas using `gpu_indices` of a node (all of it when None); their ids."""
        node = self.nodes[node_i]
        lost = {
            a
            for i, a in enumerate(node.allocated)
            if a is not None and (gpu_indices is None or i in gpu_indices)
        }
        for dep in self.deployments.values():
            for rep in [r for r in dep.replicas if r.id in lost and r.node == node_i]:
                dep.lost += rep.in_flight
                self.remove_replica(dep, rep)
            for rep in [r for r in dep.draining if r.id in lost and r.node == node_i]:
                dep.lost += rep.doomed  # the rest would have finished; an upper bound
                self._free(rep)
                dep.draining.remove(rep)
                dep.version += 1
        return sorted(lost)

    def promote(self, now: float) -> None:
        """Loading replicas whose cold start has elapsed become Ready; a Ready replacement
        stops the replica it replaces."""
        for dep in self.deployments.values():
            for rep in list(dep.replicas):
                if rep.phase is ReplicaPhase.LOADING and rep.ready_at <= now:
                    rep.phase = ReplicaPhase.READY
                    dep.version += 1
                    if dep.moving:
                        self.placement_dirty = True
                if rep.phase is ReplicaPhase.READY and rep.replaces is not None:
                    self._finish_replacement(dep, rep, now)

    def start_replacement(
        self, dep: DeploymentState, old: ReplicaState, node_i: int, now: float
    ) -> ReplicaState:
        """Start a replica replacing `old` on node `node_i` (the caller checked it fits)."""
        node = self.nodes[node_i]
        gpus = tuple(node.free_indices(now)[: dep.spec.gpus_per_replica])
        new = ReplicaState(id=f"{dep.spec.name}-{dep.next_seq}", seq=dep.next_seq, replaces=old.id)
        dep.next_seq += 1
        dep.replicas.append(new)
        for g in gpus:
            node.allocated[g] = new.id
        node.version += 1
        new.node, new.gpu_indices = node_i, gpus
        new.ready_at = now + dep.spec.cold_start_in(node.group.region)
        new.phase = ReplicaPhase.LOADING
        dep.version += 1
        if new.ready_at <= now:
            new.phase = ReplicaPhase.READY
            self._finish_replacement(dep, new, now)
        return new

    def _finish_replacement(self, dep: DeploymentState, new: ReplicaState, now: float) -> None:
        old = next((r for r in dep.replicas if r.id == new.replaces), None)
        new.replaces = None
        dep.version += 1
        if old is not None:
            self.drain_replica(dep, old, now)

    @staticmethod
    def replaced_ids(dep: DeploymentState) -> set[str]:
        """Replicas being replaced by a move in flight (they serve, but do not count)."""
        return {r.replaces for r in dep.replicas if r.replaces is not None}

    # -- reconcile and place ----------------------------------------------------------

    def reconcile(self, now: float) -> None:
        for dep in self.deployments.values():
            if dep.moving or len(dep.replicas) - len(self.replaced_ids(dep)) != dep.desired:
                self._reconcile_one(dep, now)
        if self.placement_dirty:
            self.placement_dirty = False
            self._place_pending(now)

    def _matches(self, dep: DeploymentState, rep: ReplicaState) -> bool:
        return rep.node is None or dep.allows(self.nodes[rep.node])

    def _reconcile_one(self, dep: DeploymentState, now: float) -> None:
        while True:  # removing a move's new replica makes the one it replaced count again
            replaced = self.replaced_ids(dep)
            counted = [r for r in dep.replicas if r.id not in replaced]
            matching = [r for r in counted if self._matches(dep, r)]
            old = [r for r in counted if not self._matches(dep, r)]
            surplus = len(matching) - dep.desired
            if surplus <= 0:
                break
            # the least busy Ready replica goes first (Kubernetes: pod-deletion-cost)
            ordered = sorted(
                matching, key=lambda r: (_REMOVAL_ORDER[r.phase], round(r.in_flight, 6), -r.seq)
            )
            cancelled = False
            for rep in ordered[:surplus]:
                self.drain_replica(dep, rep, now)
                cancelled = cancelled or rep.replaces is not None
            if not cancelled:
                break
        for _ in range(-surplus):
            self._new_replica(dep)
        replaced = self.replaced_ids(dep)
        ready_matching = sum(
            1
            for r in dep.replicas
            if r.phase is ReplicaPhase.READY and r.id not in replaced and self._matches(dep, r)
        )
        keep = max(0, dep.desired - ready_matching)
        old_ready = sorted((r for r in old if r.phase is ReplicaPhase.READY), key=lambda r: r.seq)
        for rep in [r for r in old if r.phase is not ReplicaPhase.READY] + old_ready[keep:]:
            self.drain_replica(dep, rep, now)
        dep.moving = len(old_ready[:keep]) > 0

    def _place_pending(self, now: float) -> None:
        for dep in self.deployments.values():
            for rep in dep.replicas:
                if rep.phase is ReplicaPhase.PENDING:
                    self._place(dep, rep, now)

    def _place(self, dep: DeploymentState, rep: ReplicaState, now: float) -> bool:
        need = dep.spec.gpus_per_replica
        best: tuple[float, int, str] | None = None
        best_i = -1
        for i, node in enumerate(self.nodes):
            if node.cordoned or not dep.allows(node):
                continue
            if len(node.free_indices(now)) < need:
                continue
            rank = (node.group.price_per_gpu_hour, -node.allocated_count, node.name)
            if best is None or rank < best:
                best, best_i = rank, i
        if best is None:
            return False
        node = self.nodes[best_i]
        gpus = tuple(node.free_indices(now)[:need])
        for g in gpus:
            node.allocated[g] = rep.id
        node.version += 1
        rep.node, rep.gpu_indices = best_i, gpus
        rep.ready_at = now + dep.spec.cold_start_in(node.group.region)
        rep.phase = ReplicaPhase.READY if rep.ready_at <= now else ReplicaPhase.LOADING
        dep.version += 1
        return True


def still_running(elapsed: float, mean: float, longest: float) -> float:
    """Share of the requests in flight at a moment that still run `elapsed` seconds later:
    remaining run times exponential with mean `mean`, none longer than `longest`."""
    if elapsed >= longest or mean <= 0:
        return 0.0
    floor = math.exp(-longest / mean)
    return (math.exp(-elapsed / mean) - floor) / (1.0 - floor)


def last_finish_seconds(in_flight: float, mean: float, longest: float) -> float:
    """When the last of `in_flight` running requests is expected done: the time by which
    fewer than half a request is still expected to run (at most `longest`)."""
    if in_flight <= 0.5 or mean <= 0:
        return 0.0
    floor = math.exp(-longest / mean)
    return min(longest, -mean * math.log(floor + 0.5 / in_flight * (1.0 - floor)))
