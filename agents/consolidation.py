"""The consolidation planner: proposes the moves of a consolidation plan
(`agents.placement.consolidation_plan`: keep the fewest, fullest busy nodes that hold
every replica, move the others' replicas start-new-then-stop-old, audited so capacity
never dips) as `MoveReplica` actions, one wave per tick (the moves that can start on GPUs
free now), and a `CordonNode` for each node the plan empties, with the plan as evidence;
the policy engine judges each move, each cordon and the batch. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field

from agents.placement.consolidation_plan import (
    Bin,
    ConsolidationPlan,
    Move,
    bins_and_items,
    first_wave,
    plan_consolidation,
    replay_moves,
)
from gpusteward.core.actions import CordonNode, Evidence, MoveReplica, Proposal
from gpusteward.core.cluster import ClusterSnapshot, ReplicaPhase
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen


class ConsolidationConfig(Frozen):
    kind: Literal["consolidation"] = "consolidation"
    max_moves: int = Field(default=16, ge=1, description="Moves per plan (disruption cap).")
    min_free_gpus: int = Field(default=1, ge=1, description="Propose only if it frees this.")


class ConsolidationPlanner:
    """Proposes the moves of a consolidation plan (`MoveReplica`) and the cordon of each
    node it empties, one wave per tick.

    A wave is the plan's moves that can start now, each new replica on GPUs that are free
    before any old replica stops (the new one starts first, so the GPUs the old ones free
    only count from the next wave). A node is cordoned in the wave that starts its last
    move. Nothing is proposed while a move or a cold start is in flight: the next wave is
    planned afresh from the snapshot that shows the previous one done.
    """

    name = "consolidation"
    atomic = True  # its moves and cordons depend on each other: all or none

    def __init__(self, config: ConsolidationConfig | None = None) -> None:
        self.config = config or ConsolidationConfig()

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        if in_flight(snapshot):
            return []
        bins, items = bins_and_items(snapshot)
        plan = plan_consolidation(bins, items, self.config.max_moves)
        if plan.gpus_freed < self.config.min_free_gpus:
            return []
        audit = replay_moves(bins, items, plan)
        if not audit.slo_safe:  # never propose a plan that dips capacity
            return []
        wave = first_wave(bins, items, plan)
        started = {m.replica for m in wave}
        out = [
            self._cordon(snapshot, bins, plan, node)
            for node in plan.drained_nodes
            if all(m.replica in started for m in plan.moves if m.from_node == node)
        ]
        out += [self._move(snapshot, plan, m, i) for i, m in enumerate(wave, 1)]
        return out

    def _cordon(
        self, snapshot: ClusterSnapshot, bins: Sequence[Bin], plan: ConsolidationPlan, node: str
    ) -> Proposal:
        moves = [m for m in plan.moves if m.from_node == node]
        freed = next(b.gpus for b in bins if b.name == node)
        evidence = [
            Evidence(name="gpus_freed", value=freed, unit="GPUs"),
            Evidence(name="moves", value=len(moves)),
            Evidence(name="plan", value=plan.describe()),
            *(
                Evidence(
                    name=f"move_{i}",
                    value=f"{m.replica} ({m.deployment}, {m.gpus} GPU): "
                    f"{m.from_node} -> {m.to_node}",
                )
                for i, m in enumerate(moves, 1)
            ),
        ]
        return Proposal(
            action=CordonNode(node=node, issued_at=snapshot.at),
            reason=(
                f"consolidate: move {len(moves)} replica(s) off {node} (start new, then stop "
                f"old) to free its {freed} GPU(s); {plan.describe()}"
            ),
            evidence=tuple(evidence),
            planner=self.name,
        )

    def _move(
        self, snapshot: ClusterSnapshot, plan: ConsolidationPlan, m: Move, step: int
    ) -> Proposal:
        return Proposal(
            action=MoveReplica(
                deployment=m.deployment, replica=m.replica, to_node=m.to_node, issued_at=snapshot.at
            ),
            reason=(
                f"consolidate: move {m.replica} ({m.gpus} GPU) {m.from_node} -> {m.to_node} "
                f"(start new, stop old when ready) to empty {m.from_node}; {plan.describe()}"
            ),
            evidence=(
                Evidence(name="from_node", value=m.from_node),
                Evidence(name="to_node", value=m.to_node),
                Evidence(name="gpus", value=m.gpus, unit="GPUs"),
                Evidence(name="wave_step", value=step),
                Evidence(name="plan", value=plan.describe()),
                Evidence(name="plan_gpus_freed", value=plan.gpus_freed, unit="GPUs"),
            ),
            planner=self.name,
        )


def in_flight(snapshot: ClusterSnapshot) -> bool:
    """A move or a cold start is under way: some replica is not Ready, or a deployment runs
    more replicas than it wants (a move's old and new replica both running)."""
    for d in snapshot.deployments:
        if d.retired:
            continue
        if len(d.replica_states) > d.replicas:
            return True
        if any(r.phase is not ReplicaPhase.READY for r in d.replica_states):
            return True
    return False
