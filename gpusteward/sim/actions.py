"""How the simulator applies each kind of `Action` to its state.

`apply` validates first (unknown targets fail with the known ones named) and changes
nothing on a dry run or a failure. Effects land on the desired state; the engine's next
step reconciles replicas towards it. A replica move is the exception: its new replica
takes its GPUs on the target node at once, so nothing else can take them first.
"""

from __future__ import annotations

from datetime import datetime

from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    CordonNode,
    MergeAdapters,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    ScheduleCapacity,
    UnmergeAdapters,
)
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.fleet import DeploymentState
from gpusteward.sim.state import SimState

Outcome = tuple[ResultStatus, str]


class _Refused(Exception):
    """An action that cannot be applied; its message goes into the FAILED result."""


def _deployment(state: SimState, key: str, *, live: bool = True) -> DeploymentState:
    dep = state.fleet.deployments.get(key)
    if dep is None:
        known = ", ".join(state.fleet.deployments)
        raise _Refused(f"unknown deployment {key!r}; known deployments: {known}")
    if live and dep.retired:
        raise _Refused(f"deployment {key!r} is retired; it takes no further actions")
    return dep


def _set_desired(state: SimState, dep: DeploymentState, replicas: int, now: float) -> None:
    """Set the desired replicas; at zero the deployment is parked (its requests are held
    while it wakes), and the wake log notes a wake asked for."""
    before = dep.desired
    dep.desired = replicas
    if replicas == 0:
        dep.parked = True
    state.wakes[dep.key].scaled(now, before, replicas, dep.parked)


def _scale(state: SimState, a: ScaleDeployment, dry: bool, now: float) -> str:
    dep = _deployment(state, a.deployment)
    if not dry:
        _set_desired(state, dep, a.replicas, now)
    return f"{a.deployment}: desired replicas {dep.desired if not dry else a.replicas}"


def _prewarm(state: SimState, a: PrewarmReplicas, dry: bool, now: float, at: datetime) -> str:
    dep = _deployment(state, a.deployment)
    target = dep.desired + a.count
    if not dry:
        _set_desired(state, dep, target, now)
        if a.expected_from is not None:
            state.wakes[dep.key].expecting(now + (a.expected_from - at).total_seconds())
    return f"{a.deployment}: desired replicas {target} (+{a.count} pre-warmed)"


def _schedule(state: SimState, a: ScheduleCapacity, dry: bool, now: datetime) -> str:
    dep = _deployment(state, a.deployment)
    if a.end <= now:
        raise _Refused(f"the window ends {a.end.isoformat()}, before now; nothing to reserve")
    if not dry:
        dep.windows = [w for w in dep.windows if w.end > now] + [a.window()]
        dep.version += 1
    return (
        f"{a.deployment}: >= {a.replicas} replica(s) reserved {a.start.isoformat()} to "
        f"{a.end.isoformat()} (started one cold start ahead)"
    )


def _move(state: SimState, a: MoveDeployment, dry: bool) -> str:
    dep = _deployment(state, a.deployment)
    gpu_types = dep.gpu_types
    if a.to_gpu_type is not None:
        profiled = tuple(dep.spec.profile.throughput_rps)
        if a.to_gpu_type not in profiled:
            raise _Refused(
                f"{a.deployment} has no throughput profile for GPU type {a.to_gpu_type!r}; "
                f"profiled types: {', '.join(profiled)}"
            )
        gpu_types = (a.to_gpu_type,)
    pools = (a.to_pool,) if a.to_pool is not None else dep.pools
    probe = DeploymentState(spec=dep.spec, desired=0, gpu_types=gpu_types, pools=pools)
    if not any(probe.allows(n) for n in state.fleet.nodes):
        raise _Refused(
            f"no node fits {a.deployment} with pools={list(pools) or 'any'} and "
            f"gpu types={list(gpu_types)}; nodes: "
            + ", ".join(f"{n.name} ({n.group.pool}, {n.group.gpu_type})" for n in state.fleet.nodes)
        )
    if not dry:
        dep.gpu_types, dep.pools, dep.moving = gpu_types, pools, True
        dep.version += 1
        state.fleet.placement_dirty = True
    return (
        f"{a.deployment}: now allowed on pools={list(pools) or 'any'}, gpu types={list(gpu_types)}"
    )


def _route(state: SimState, src: DeploymentState, into: DeploymentState) -> None:
    """Send `src`'s requests (and those routed to it) to `into`, with its queue; `src`
    drains to zero."""
    src.desired = 0
    src.version += 1
    for origin, target in list(state.routes.items()):
        if target == src.key:
            state.routes[origin] = into.key
            state.fleet.deployments[origin].version += 1  # its routed_to changed
    state.routes[src.key] = into.key
    state.wakes[src.key].rerouted()  # what it held is served by `into` from here
    backlog = state.queues[src.key].take_all()
    moved = state.queues[into.key].absorb(backlog)
    state.tallies[src.key].arrived -= moved  # the requests now belong to `into`
    state.tallies[into.key].arrived += moved


def _consolidate(state: SimState, a: ConsolidateModels, dry: bool) -> str:
    into = _deployment(state, a.into)
    sources = [_deployment(state, s) for s in a.sources]
    if dry:
        return f"{', '.join(a.sources)} would route to {a.into}"
    for src in sources:
        _route(state, src, into)
    return f"{', '.join(a.sources)} routed to {a.into} and scaled to 0"


def _merge(state: SimState, a: MergeAdapters, dry: bool) -> str:
    into = _deployment(state, a.into)
    sources = [_deployment(state, s) for s in a.sources]
    for dep in (into, *sources):
        model = dep.spec.model or dep.spec.name
        if model != a.base_model:
            raise _Refused(
                f"{dep.key} serves model {model!r}, not {a.base_model!r}: only fine-tunes of "
                "one base model share its runtime"
            )
    if into.key in state.routes:
        raise _Refused(f"{a.into} is itself routed to {state.routes[into.key]}; merge into that")
    if not into.desired:
        raise _Refused(f"{a.into} is at zero replicas; a merged runtime must be serving")
    if dry:
        return f"{', '.join(a.sources)} would be served as adapters by {a.into}"
    for src in sources:
        _route(state, src, into)
        into.adapters = [*into.adapters, *src.adapters, src.key]
        src.adapters = []
    into.version += 1
    return (
        f"{a.into} serves {len(into.adapters)} adapter(s) now ({', '.join(a.sources)} "
        "routed to it); the sources drain to 0"
    )


def _unmerge(state: SimState, a: UnmergeAdapters, dry: bool, now: float) -> str:
    """The sources' requests go to their own deployments again; what the runtime has
    queued of theirs it still serves. A source started before the unmerge (a handover:
    its replicas asked for while it was merged) keeps them, and one Ready takes its
    requests at once, no wake counted (none of them waited); a source at zero wakes on
    its first request, which is held while a replica starts."""
    runtime = _deployment(state, a.runtime)
    sources = [_deployment(state, s) for s in a.sources]
    strangers = [s.key for s in sources if s.key not in runtime.adapters]
    if strangers:
        serves = ", ".join(runtime.adapters) or "none"
        raise _Refused(
            f"{a.runtime} does not serve {', '.join(strangers)} as adapters (it serves: "
            f"{serves}); only a merged adapter can be unmerged"
        )
    if dry:
        return f"{', '.join(a.sources)} would be served by their own deployments again"
    for src in sources:
        del state.routes[src.key]
        src.version += 1  # its routed_to changed
        if src.desired == 0:
            _set_desired(state, src, 0, now)  # parked: its first request wakes it
        elif any(r.phase is ReplicaPhase.READY for r in src.replicas):
            src.parked = False
            state.wakes[src.key].rerouted()  # its replicas were up before a request came
    runtime.adapters = [k for k in runtime.adapters if k not in a.sources]
    runtime.version += 1
    return (
        f"{a.runtime} serves {len(runtime.adapters)} adapter(s) now; {', '.join(a.sources)} "
        "routed to their own deployments (one at zero wakes on its first request)"
    )


def _retire(state: SimState, a: RetireModel, dry: bool) -> str:
    dep = _deployment(state, a.deployment)
    if not dry:
        dep.desired, dep.retired = 0, True
        dep.version += 1
    return f"{a.deployment}: retired; its later requests are dropped"


def _cordon(state: SimState, a: CordonNode, dry: bool) -> str:
    index = state.fleet.node_index.get(a.node)
    if index is None:
        known = ", ".join(state.fleet.node_index)
        raise _Refused(f"unknown node {a.node!r}; known nodes: {known}")
    if not dry:
        node = state.fleet.nodes[index]
        node.cordoned = a.cordon
        node.version += 1
        state.fleet.placement_dirty = True
    return f"node {a.node} {'cordoned' if a.cordon else 'uncordoned'}"


def _move_replica(state: SimState, a: MoveReplica, dry: bool, now: float) -> str:
    dep = _deployment(state, a.deployment)
    fleet = state.fleet
    rep = next((r for r in dep.replicas if r.id == a.replica), None)
    if rep is None:
        known = ", ".join(r.id for r in dep.replicas) or "none"
        raise _Refused(f"{a.deployment} has no replica {a.replica!r}; its replicas: {known}")
    if rep.node is None:
        raise _Refused(f"replica {a.replica} is not placed yet; only a running replica can move")
    if rep.replaces is not None or a.replica in fleet.replaced_ids(dep):
        raise _Refused(f"replica {a.replica} is already part of a move in flight; wait for it")
    index = fleet.node_index.get(a.to_node)
    if index is None:
        raise _Refused(f"unknown node {a.to_node!r}; known nodes: {', '.join(fleet.node_index)}")
    node = fleet.nodes[index]
    if index == rep.node:
        raise _Refused(f"replica {a.replica} already runs on {a.to_node}")
    if node.cordoned:
        raise _Refused(f"node {a.to_node} is cordoned; uncordon it or choose another node")
    if not dep.allows(node):
        raise _Refused(
            f"{a.deployment} may not run on {a.to_node} ({node.group.pool}, "
            f"{node.group.gpu_type}, {node.group.gpu_memory_gib:g} GiB); it needs gpu types="
            f"{list(dep.gpu_types)}, pools={list(dep.pools) or 'any'}, "
            f">= {dep.spec.gpu_memory_gib:g} GiB per GPU"
        )
    free, need = len(node.free_indices(now)), dep.spec.gpus_per_replica
    if free < need:
        raise _Refused(
            f"node {a.to_node} has {free} free healthy GPU(s), the replica needs {need}; "
            "the new replica must start before the old one stops (no capacity dip)"
        )
    if dry:
        return f"{a.replica} would be replaced by a new replica on {a.to_node}"
    new = fleet.start_replacement(dep, rep, index, now)
    return (
        f"{a.deployment}: new replica {new.id} starting on {a.to_node}; {a.replica} stops "
        "when it is Ready"
    )


def _dispatch(state: SimState, action: Action, dry: bool, now: float, at: datetime) -> str:
    if isinstance(action, ScaleDeployment):
        return _scale(state, action, dry, now)
    if isinstance(action, PrewarmReplicas):
        return _prewarm(state, action, dry, now, at)
    if isinstance(action, ScheduleCapacity):
        return _schedule(state, action, dry, at)
    if isinstance(action, MoveDeployment):
        return _move(state, action, dry)
    if isinstance(action, ConsolidateModels):
        return _consolidate(state, action, dry)
    if isinstance(action, MergeAdapters):
        return _merge(state, action, dry)
    if isinstance(action, UnmergeAdapters):
        return _unmerge(state, action, dry, now)
    if isinstance(action, RetireModel):
        return _retire(state, action, dry)
    if isinstance(action, CordonNode):
        return _cordon(state, action, dry)
    if isinstance(action, MoveReplica):
        return _move_replica(state, action, dry, now)
    raise _Refused(f"the simulator cannot execute {type(action).__name__}")


def apply(
    state: SimState, action: Action, *, dry_run: bool, now: float = 0.0, at: datetime | None = None
) -> Outcome:
    """Apply one action (at most once per id) at `now` (seconds since the start; `at` the
    same instant as a time, for actions that carry times); never raises for a bad target."""
    if action.id in state.executed:
        return ResultStatus.DUPLICATE, f"action {action.id} was executed before; nothing done"
    try:
        message = _dispatch(state, action, dry_run, now, at or action.issued_at)
    except _Refused as e:
        return ResultStatus.FAILED, f"{action.describe()}: {e}"
    if dry_run:
        return ResultStatus.DRY_RUN, f"dry run, nothing changed: {message}"
    state.executed.add(action.id)
    return ResultStatus.APPLIED, message
