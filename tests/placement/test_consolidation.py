"""Consolidation empties whole nodes with few moves and never dips serving capacity."""

from __future__ import annotations

import random

from agents.consolidation import ConsolidationPlanner
from agents.placement.consolidation_plan import (
    Bin,
    Item,
    optimal_free_gpus,
    plan_consolidation,
    replay_moves,
)
from gpusteward.core.actions import CordonNode, MoveReplica
from gpusteward.core.cluster import Pool, Replica, ReplicaPhase
from gpusteward.core.verdicts import NeedsApproval
from gpusteward.testing import make_deployment, make_snapshot
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy


def fragmented(seed: int, nodes: int = 8, gpus: int = 8) -> tuple[list[Bin], list[Item]]:
    """A cluster filled to ~45 % by replicas of 1, 2 and 4 GPUs scattered at random."""
    rng = random.Random(seed)
    bins = [Bin(f"n{i}", gpus, "A100", Pool.ON_PREM) for i in range(nodes)]
    free = {b.name: gpus for b in bins}
    items: list[Item] = []
    while sum(i.gpus for i in items) < 0.45 * nodes * gpus:
        size = rng.choice([1, 1, 1, 2, 2, 4])
        options = [b.name for b in bins if free[b.name] >= size]
        node = rng.choice(options)
        free[node] -= size
        items.append(Item(f"r{len(items)}", f"ns/m{len(items) % 5}", size, node))
    return bins, items


def test_greedy_frees_at_least_80_percent_of_the_exact_optimum() -> None:
    greedy = optimum = 0
    for seed in range(12):
        bins, items = fragmented(seed)
        plan = plan_consolidation(bins, items)
        best = optimal_free_gpus(bins, items)
        assert plan.gpus_freed <= best
        greedy += plan.gpus_freed
        optimum += best
    assert optimum > 0
    assert greedy >= 0.8 * optimum


def test_moves_start_new_before_stopping_old_so_capacity_never_dips() -> None:
    for seed in range(12):
        bins, items = fragmented(seed)
        plan = plan_consolidation(bins, items)
        audit = replay_moves(bins, items, plan)
        assert audit.slo_safe, audit.violations
        assert all(audit.min_ready[d] >= n for d, n in audit.ready_before.items())
        assert audit.gpus_freed == plan.gpus_freed


def test_replay_flags_a_move_into_a_full_node() -> None:
    bins = [Bin("a", 2, "A100", Pool.ON_PREM), Bin("b", 2, "A100", Pool.ON_PREM)]
    items = [Item("r0", "ns/m", 2, "a"), Item("r1", "ns/m", 2, "b")]
    from agents.placement.consolidation_plan import ConsolidationPlan, Move

    bad = ConsolidationPlan(
        moves=(Move(replica="r0", deployment="ns/m", from_node="a", to_node="b", gpus=2),)
    )
    assert not replay_moves(bins, items, bad).slo_safe


def test_replicas_only_move_to_allowed_gpu_types() -> None:
    bins = [Bin("h", 8, "H100", Pool.ON_PREM), Bin("a", 8, "A100", Pool.ON_PREM)]
    items = [Item("r0", "ns/m", 1, "h", gpu_types=("H100",)), Item("r1", "ns/x", 4, "a")]
    plan = plan_consolidation(bins, items)
    assert all(m.replica != "r0" for m in plan.moves)
    assert plan.drained_nodes == ("a",)


def test_planner_proposes_the_cordon_and_the_move_and_the_default_pack_asks_a_human() -> None:
    def ready(name: str, node: str, gpu: int) -> Replica:
        return Replica(id=name, phase=ReplicaPhase.READY, node=node, gpu_indices=(gpu,))

    m0 = make_deployment(
        "m0",
        replicas=2,
        replica_states=(ready("m0-0", "gpu-node-0", 0), ready("m0-1", "gpu-node-0", 1)),
    )
    m1 = make_deployment("m1", replicas=1, replica_states=(ready("m1-0", "gpu-node-1", 0),))
    snap = make_snapshot(nodes=2, gpus_per_node=4, deployments=[m0, m1])
    proposals = ConsolidationPlanner().plan(snap, {})
    assert [p.action.kind for p in proposals] == ["cordon", "move-replica"]
    proposal, move = proposals
    assert isinstance(proposal.action, CordonNode) and proposal.action.node == "gpu-node-1"
    assert move.action == MoveReplica(
        deployment="default/m1", replica="m1-0", to_node="gpu-node-0", issued_at=snap.at
    )
    evidence = {e.name: e.value for e in proposal.evidence}
    assert evidence["gpus_freed"] == 4
    assert evidence["move_1"] == "m1-0 (default/m1, 1 GPU): gpu-node-1 -> gpu-node-0"
    assert "start new" in proposal.reason
    engine = RulePolicyEngine(load_policy((PACKS_DIR / "default.yaml").read_text(), "default"))
    verdicts = engine.evaluate(proposals, snap)
    assert all(isinstance(v, NeedsApproval) for v in verdicts), verdicts
