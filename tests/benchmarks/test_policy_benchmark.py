"""The policy benchmark's openb snapshot is the real cluster, packed without double booking."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy
from tests.openb import DATA, policy_benchmark, requires_openb

pytestmark = requires_openb


def _bench() -> ModuleType:
    return policy_benchmark()


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def workbench(bench: ModuleType) -> Any:
    return bench.build_workbench(DATA)


def test_snapshot_has_every_node_and_gpu_of_the_trace(workbench: Any) -> None:
    snap = workbench.snapshot
    assert len(snap.nodes) == 1213
    assert snap.total_gpus() == 6212
    assert Counter(n.gpu_type for n in snap.nodes)["G2"] == 549
    keys = [d.key for d in snap.deployments]
    assert len(keys) == len(set(keys))


def test_no_gpu_is_allocated_twice_and_owners_match_replicas(workbench: Any) -> None:
    snap = workbench.snapshot
    claimed = [
        (r.node, g) for d in snap.deployments for r in d.replica_states for g in r.gpu_indices
    ]
    assert len(claimed) == len(set(claimed))
    owners = {(n.name, g.index): g.allocated_to for n in snap.nodes for g in n.gpus}
    by_replica = {
        (r.node, g): r.id for d in snap.deployments for r in d.replica_states for g in r.gpu_indices
    }
    assert {k: v for k, v in owners.items() if v is not None} == by_replica
    for d in snap.deployments:
        for r in d.replica_states:
            assert r.node is None or len(r.gpu_indices) == d.gpus_per_replica


def test_snapshot_fills_about_the_requested_share(workbench: Any) -> None:
    held = sum(1 for n in workbench.snapshot.nodes for g in n.gpus if g.allocated_to)
    assert 0.88 * 6212 <= held <= 0.92 * 6212


def test_missing_data_names_the_path_and_the_fix(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"not found.*Fix: pass --data"):
        bench.build_workbench(tmp_path)


def test_evaluate_returns_one_verdict_per_proposal(bench: ModuleType, workbench: Any) -> None:
    policy = load_policy((PACKS_DIR / "default.yaml").read_text(), "default.yaml")
    proposals = bench.make_proposals(workbench.snapshot, 300)
    verdicts = RulePolicyEngine(policy).evaluate(proposals, workbench.snapshot, workbench.inputs)
    assert len(verdicts) == len(proposals)
    assert [v.action_id for v in verdicts] == [p.action.id for p in proposals]
    assert {v.decision for v in verdicts} == {"allow", "deny", "needs_approval"}
