"""Several planners in one tick: a scaling planner, then consolidation, hygiene and
GPU-type choice (whichever the scenario names).

Each planner sees the same snapshot and forecasts. Their proposals are merged in a fixed
order (scaling first, then the others in the order given) so that no two planners touch
the same target in one tick: a proposal whose targets (a deployment, a consolidation's
sources, a cordoned node, a replica move's deployment and node) an earlier planner
already claimed is dropped, so scaling wins. A planner marked `atomic` (consolidation:
its moves and cordons depend on each other) keeps all of its proposals or none. Within
one planner, proposals are kept as that planner ordered them. A member with an
`on_dropped(proposals)` method is told which of its proposals were dropped. Pure, like
its planners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gpusteward.core.actions import (
    CordonNode,
    MoveReplica,
    Proposal,
    RoutingAction,
)
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast
from gpusteward.core.ports import AtomicPlanner, HearsDropped, Planner, blocks_on_io


def claimed_targets(proposal: Proposal) -> set[str]:
    """What a proposal changes: deployments by key, nodes as `node:<name>`."""
    action = proposal.action
    if isinstance(action, CordonNode):
        return {f"node:{action.node}"}
    targets = {action.target}
    if isinstance(action, RoutingAction):
        targets |= set(action.sources)
    if isinstance(action, MoveReplica):
        targets.add(f"node:{action.to_node}")
    return targets


class CompositePlanner:
    """Runs `scaling` and then each of `others`; merges their proposals (scaling wins)."""

    name = "composite"  # each proposal still names the member planner that made it

    def __init__(self, scaling: Planner, others: Sequence[Planner] = ()) -> None:
        self.planners: tuple[Planner, ...] = (scaling, *others)
        self.last_dropped: tuple[tuple[str, str], ...] = ()  # (planner, action), last tick

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.planners)

    @property
    def blocking_io(self) -> bool:
        """True when any member planner does blocking I/O (the daemon then offloads it)."""
        return any(blocks_on_io(p) for p in self.planners)

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        out: list[Proposal] = []
        claimed: set[str] = set()
        dropped: list[tuple[str, str]] = []
        for planner in self.planners:
            proposals = planner.plan(snapshot, forecasts)
            kept = [p for p in proposals if not claimed_targets(p) & claimed]
            if len(kept) < len(proposals) and isinstance(planner, AtomicPlanner) and planner.atomic:
                kept = []
            lost = [p for p in proposals if p not in kept]
            dropped += [(planner.name, p.action.describe()) for p in lost]
            if lost and isinstance(planner, HearsDropped):
                planner.on_dropped(lost)  # e.g. gpu-choice: a dropped move starts no cooldown
            for p in kept:
                claimed |= claimed_targets(p)
            out += kept
        self.last_dropped = tuple(dropped)
        return out
