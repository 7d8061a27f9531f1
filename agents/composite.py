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
from typing import Any

from gpusteward.core.actions import (
    CordonNode,
    MoveReplica,
    Proposal,
    SourcedAction,
)
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast
from gpusteward.core.ports import (
    AtomicPlanner,
    HearsDropped,
    Planner,
    RemembersState,
    blocks_on_io,
)
from gpusteward.core.remembered import StateError


def claimed_targets(proposal: Proposal) -> set[str]:
    """What a proposal changes: deployments by key, nodes as `node:<name>`."""
    action = proposal.action
    if isinstance(action, CordonNode):
        return {f"node:{action.node}"}
    targets = {action.target}
    if isinstance(action, SourcedAction):
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

    def state(self) -> dict[str, Any]:
        """Each member's remembered state, in member order (None: it remembers nothing)."""
        return {
            "members": [
                {
                    "name": p.name,
                    "state": dict(p.state()) if isinstance(p, RemembersState) else None,
                }
                for p in self.planners
            ]
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        members = state.get("members")
        names = [m.get("name") for m in members] if isinstance(members, list) else None
        if not isinstance(members, list) or names != list(self.members):
            raise StateError(
                f"composite planner state has members {names}, the scenario's planner has "
                f"{list(self.members)}"
            )
        for planner, member in zip(self.planners, members, strict=True):
            if isinstance(planner, RemembersState) and member["state"] is not None:
                planner.restore(member["state"])
            elif isinstance(planner, RemembersState) or member["state"] is not None:
                raise StateError(f"composite member {planner.name}: state does not match it")

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
