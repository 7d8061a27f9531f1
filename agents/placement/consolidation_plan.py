"""The consolidation plan: which busy nodes to keep and the replica moves that empty the
others, with few moves (`plan_consolidation`); an exact solver for small instances, the
yardstick for the plan (`optimal_free_gpus`); and the move-by-move audit that capacity
never dips (`replay_moves`). Each move is start-new-then-stop-old: the new replica takes
free GPUs on its target, becomes ready after the model's cold start, and only then is the
old one stopped. Pure: no I/O, no clock. `agents.consolidation` proposes a plan's moves.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from gpusteward.core.cluster import ClusterSnapshot, Health, Pool, WorkloadClass
from gpusteward.core.model import Frozen


@dataclass(frozen=True)
class Bin:
    """A node as consolidation sees it: whole GPUs, type, pool."""

    name: str
    gpus: int
    gpu_type: str
    pool: Pool


@dataclass(frozen=True)
class Item:
    """A running replica holding `gpus` whole GPUs on `node`."""

    id: str
    deployment: str
    gpus: int
    node: str
    gpu_types: tuple[str, ...] = ()
    pools: tuple[Pool, ...] = ()
    workload: WorkloadClass = WorkloadClass.REALTIME
    cold_start_seconds: float = 0.0

    def allows(self, b: Bin) -> bool:
        if self.gpu_types and b.gpu_type not in self.gpu_types:
            return False
        if self.pools and b.pool not in self.pools:
            return False
        training = b.pool is Pool.TRAINING
        if self.workload is WorkloadClass.REALTIME and training:
            return False
        return not (self.workload is WorkloadClass.TRAINING and not training)


class Move(Frozen):
    replica: str
    deployment: str
    from_node: str
    to_node: str
    gpus: int = Field(ge=1)


class ConsolidationPlan(Frozen):
    moves: tuple[Move, ...] = ()
    drained_nodes: tuple[str, ...] = ()
    gpus_freed: int = 0

    def describe(self) -> str:
        return (
            f"{len(self.moves)} move(s) empty {len(self.drained_nodes)} node(s), "
            f"freeing {self.gpus_freed} GPU(s)"
        )


def bins_and_items(snapshot: ClusterSnapshot) -> tuple[list[Bin], list[Item]]:
    """Schedulable, healthy nodes and the placed replicas of live deployments."""
    bins = [
        Bin(n.name, sum(1 for g in n.gpus if g.health is not Health.FAILED), n.gpu_type, n.pool)
        for n in snapshot.nodes
        if not n.cordoned
    ]
    known = {b.name for b in bins}
    items = [
        Item(
            id=r.id,
            deployment=d.key,
            gpus=len(r.gpu_indices) or d.gpus_per_replica,
            node=r.node,
            gpu_types=d.gpu_types,
            pools=d.pools,
            workload=d.workload,
            cold_start_seconds=d.cold_start_seconds,
        )
        for d in snapshot.deployments
        if not d.retired
        for r in d.replica_states
        if r.node is not None and r.node in known
    ]
    return bins, items


@dataclass
class _Load:
    free: dict[str, int]
    items: dict[str, list[Item]] = field(default_factory=dict)


def _load(bins: Sequence[Bin], items: Sequence[Item]) -> _Load:
    load = _Load(free={b.name: b.gpus for b in bins}, items={b.name: [] for b in bins})
    for it in items:
        load.free[it.node] -= it.gpus
        load.items[it.node].append(it)
    for name, free in load.free.items():
        if free < 0:
            raise ValueError(f"node {name!r} holds more GPUs than it has ({free} free)")
    return load


def plan_consolidation(
    bins: Sequence[Bin], items: Sequence[Item], max_moves: int | None = None
) -> ConsolidationPlan:
    """Keep the fewest, fullest nodes that can hold every replica; move the rest there.

    For k = the lower bound upwards, keep the k fullest busy nodes and pack: first by
    moving only the replicas of the other nodes (best fit, largest first); failing that,
    by re-packing everything into the kept nodes, each replica staying home when it can.
    A packing is kept only if its moves can run in an order where every new replica
    finds free GPUs while the old one still runs, and it has at most `max_moves` moves.
    """
    load = _load(bins, items)
    busy = [b for b in bins if load.items[b.name]]
    if not busy:
        return ConsolidationPlan()
    busy.sort(key=lambda b: (-(b.gpus - load.free[b.name]), len(load.items[b.name]), b.name))
    used = sum(it.gpus for it in items)
    for k in range(1, len(busy)):
        for keep in _keep_sets(busy, k):
            if sum(b.gpus for b in keep) < used:
                continue
            plan = _try(bins, busy, keep, items, load, max_moves)
            if plan is not None:
                return plan
    return ConsolidationPlan()


def _keep_sets(busy: Sequence[Bin], k: int, variants: int = 16) -> list[list[Bin]]:
    """The k fullest nodes, then that set with its last member swapped for a later one."""
    head = list(busy[:k])
    out = [head]
    for j in range(k, min(len(busy), k + variants)):
        out.append([*head[:-1], busy[j]])
    return out


def _try(
    bins: Sequence[Bin],
    busy: Sequence[Bin],
    keep: Sequence[Bin],
    items: Sequence[Item],
    load: _Load,
    max_moves: int | None,
) -> ConsolidationPlan | None:
    """A plan keeping exactly `keep`, or None when no packing or no safe order exists."""
    kept = {b.name for b in keep}
    for assignment in (_pinned(keep, items, load), _repacked(keep, items)):
        if assignment is None:
            continue
        moves = _ordered_moves(bins, items, assignment)
        if moves is None or (max_moves is not None and len(moves) > max_moves):
            continue
        drained = tuple(sorted(b.name for b in busy if b.name not in kept))
        freed = sum(b.gpus for b in busy if b.name not in kept)
        return ConsolidationPlan(moves=tuple(moves), drained_nodes=drained, gpus_freed=freed)
    return None


def _pinned(keep: Sequence[Bin], items: Sequence[Item], load: _Load) -> dict[str, str] | None:
    """Replicas on kept nodes stay; the others go best fit, largest first."""
    kept = {b.name for b in keep}
    free = {b.name: load.free[b.name] for b in keep}
    out = {it.id: it.node for it in items if it.node in kept}
    moving = [i for i in items if i.node not in kept]
    return _best_fit(moving, keep, free, out, stay_home=False)


def _repacked(keep: Sequence[Bin], items: Sequence[Item]) -> dict[str, str] | None:
    """Every replica re-packed into the kept nodes, largest first, home when it fits."""
    return _best_fit(items, keep, {b.name: b.gpus for b in keep}, {}, stay_home=True)


def _best_fit(
    items: Sequence[Item],
    keep: Sequence[Bin],
    free: dict[str, int],
    out: dict[str, str],
    *,
    stay_home: bool,
) -> dict[str, str] | None:
    """`out` plus a kept node for each of `items`, largest first: its own node when
    `stay_home` and it fits there, else the tightest allowed one (`free` is used up as
    they go); None when one fits nowhere."""
    for it in sorted(items, key=lambda i: (-i.gpus, i.id)):
        home = next((b for b in keep if b.name == it.node), None) if stay_home else None
        if home is not None and free[home.name] >= it.gpus and it.allows(home):
            target: str | None = home.name
        else:
            target = _tightest(it, keep, free)
        if target is None:
            return None
        free[target] -= it.gpus
        out[it.id] = target
    return out


def _tightest(item: Item, keep: Sequence[Bin], free: Mapping[str, int]) -> str | None:
    """The allowed kept node left with the fewest free GPUs (ties by name)."""
    best: tuple[int, str] | None = None
    for b in keep:
        if free[b.name] >= item.gpus and item.allows(b):
            rank = (free[b.name] - item.gpus, b.name)
            if best is None or rank < best:
                best = rank
    return None if best is None else best[1]


def _ordered_moves(
    bins: Sequence[Bin], items: Sequence[Item], assignment: Mapping[str, str]
) -> list[Move] | None:
    """The moves in an order where each new replica finds free GPUs, or None (a cycle)."""
    free = dict(_load(bins, items).free)
    pending = [
        Move(
            replica=it.id,
            deployment=it.deployment,
            from_node=it.node,
            to_node=assignment[it.id],
            gpus=it.gpus,
        )
        for it in sorted(items, key=lambda i: (-i.gpus, i.id))
        if assignment[it.id] != it.node
    ]
    ordered: list[Move] = []
    while pending:
        runnable = next((m for m in pending if free[m.to_node] >= m.gpus), None)
        if runnable is None:
            return None
        free[runnable.to_node] -= runnable.gpus
        free[runnable.from_node] += runnable.gpus
        ordered.append(runnable)
        pending.remove(runnable)
    return ordered


def optimal_free_gpus(bins: Sequence[Bin], items: Sequence[Item], limit: int = 12) -> int:
    """Exact: the most GPUs freed (on nodes busy now, empty after) over every
    re-assignment of the replicas, however many moves it takes.

    Tries each set of nodes to keep open, largest empty capacity first, and packs the
    replicas into it by exhaustive search. For small instances (at most `limit` nodes).
    """
    if len(bins) > limit:
        raise ValueError(f"{len(bins)} nodes: the exact solver is for <= {limit}")
    subsets = sorted(
        (s for r in range(len(bins) + 1) for s in itertools.combinations(bins, r)),
        key=lambda s: -sum(b.gpus for b in bins if b not in s),
    )
    ordered = sorted(items, key=lambda i: -i.gpus)
    for open_bins in subsets:
        if sum(b.gpus for b in open_bins) < sum(i.gpus for i in items):
            continue
        if _packs(ordered, list(open_bins), {b.name: b.gpus for b in open_bins}):
            empty_before = sum(b.gpus for b in bins if all(i.node != b.name for i in items))
            return sum(b.gpus for b in bins if b not in open_bins) - empty_before
    return 0


def _packs(items: Sequence[Item], bins: list[Bin], free: dict[str, int]) -> bool:
    if not items:
        return True
    first, rest = items[0], items[1:]
    seen: set[tuple[str, int, str]] = set()
    for b in bins:
        key = (b.gpu_type, free[b.name], str(b.pool))  # symmetric bins: try one
        if key in seen or free[b.name] < first.gpus or not first.allows(b):
            continue
        seen.add(key)
        free[b.name] -= first.gpus
        if _packs(rest, bins, free):
            free[b.name] += first.gpus
            return True
        free[b.name] += first.gpus
    return False


class ReplayReport(Frozen):
    """What executing a plan move by move did to capacity."""

    steps: int
    min_ready: dict[str, int]  # per deployment, the lowest ready count at any instant
    ready_before: dict[str, int]
    violations: tuple[str, ...] = ()
    gpus_freed: int = 0

    @property
    def slo_safe(self) -> bool:
        return not self.violations


def replay_moves(
    bins: Sequence[Bin], items: Sequence[Item], plan: ConsolidationPlan
) -> ReplayReport:
    """Execute a plan start-new-then-stop-old, one move at a time, and audit it.

    A move fails (a violation) when its target lacks free GPUs when the new replica
    starts (the only way to proceed would be stopping the old one first: a capacity
    dip) or when any node would hold more GPUs than it has.
    """
    load = _load(bins, items)
    ready: dict[str, int] = {}
    for it in items:
        ready[it.deployment] = ready.get(it.deployment, 0) + 1
    before = dict(ready)
    low = dict(ready)
    violations: list[str] = []
    capacity = {b.name: b.gpus for b in bins}
    for step, mv in enumerate(plan.moves, 1):
        if load.free.get(mv.to_node, -1) < mv.gpus:
            violations.append(
                f"step {step}: {mv.replica} needs {mv.gpus} GPU(s) on {mv.to_node}, "
                f"{load.free.get(mv.to_node, 0)} free while the old replica still runs"
            )
            continue
        load.free[mv.to_node] -= mv.gpus  # new replica starts (loading: not ready yet)
        low[mv.deployment] = min(low[mv.deployment], ready[mv.deployment])
        ready[mv.deployment] += 1  # cold start done: new one ready
        ready[mv.deployment] -= 1  # old one stopped only now
        load.free[mv.from_node] += mv.gpus
        low[mv.deployment] = min(low[mv.deployment], ready[mv.deployment])
        if any(load.free[n] < 0 or load.free[n] > capacity[n] for n in (mv.to_node, mv.from_node)):
            violations.append(f"step {step}: GPU accounting out of range on {mv.to_node}")
    for dep, n in low.items():
        if n < before[dep]:
            violations.append(f"{dep}: ready replicas dipped to {n} (were {before[dep]})")
    empty = [b for b in bins if load.free[b.name] == b.gpus]
    busy_before = {it.node for it in items}
    freed = sum(b.gpus for b in empty if b.name in busy_before)
    return ReplayReport(
        steps=len(plan.moves),
        min_ready=low,
        ready_before=before,
        violations=tuple(violations),
        gpus_freed=freed,
    )


def first_wave(bins: Sequence[Bin], items: Sequence[Item], plan: ConsolidationPlan) -> list[Move]:
    """The plan's moves, in order, whose new replica fits on GPUs free right now (no credit
    for GPUs an old replica frees: it stops only after its successor is Ready)."""
    free = dict(_load(bins, items).free)
    wave = []
    for m in plan.moves:
        if free[m.to_node] >= m.gpus:
            free[m.to_node] -= m.gpus
            wave.append(m)
    return wave
