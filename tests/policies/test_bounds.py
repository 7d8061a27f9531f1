"""Guard v0: bounds and GPU budget, failing closed."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gpusteward.core.actions import CordonNode, Proposal, RetireModel, ScaleDeployment
from gpusteward.core.verdicts import Allow, Deny, NeedsApproval
from gpusteward.testing import make_deployment, make_snapshot
from policies.bounds import BoundsConfig, BoundsPolicy

AT = datetime(2026, 11, 2, tzinfo=UTC)
LLM = "default/llm-chat"


def _scale(n: int, key: str = LLM) -> Proposal:
    return Proposal(action=ScaleDeployment(deployment=key, replicas=n, issued_at=AT), reason="t")


def test_scale_within_bounds_is_allowed_with_the_rule_that_decided() -> None:
    (v,) = BoundsPolicy().evaluate([_scale(3)], make_snapshot())
    assert isinstance(v, Allow) and v.rules[0].rule == "replica-bounds"


def test_scale_beyond_max_replicas_is_denied_naming_the_bounds() -> None:
    (v,) = BoundsPolicy().evaluate([_scale(9)], make_snapshot())
    assert isinstance(v, Deny) and "outside [1, 8]" in v.reason


def test_scale_of_an_unknown_deployment_is_denied() -> None:
    (v,) = BoundsPolicy().evaluate([_scale(2, "x/nope")], make_snapshot())
    assert isinstance(v, Deny) and v.rules[0].rule == "unknown-target"


def test_gpu_budget_counts_earlier_allowed_proposals_in_the_batch() -> None:
    snap = make_snapshot()  # llm 2 + sdxl 1 = 3 GPUs held
    policy = BoundsPolicy(BoundsConfig(gpu_budget=6))
    first, second = policy.evaluate([_scale(4), _scale(3, "default/sdxl")], snap)
    assert isinstance(first, Allow)  # 3 + 2 = 5 <= 6
    assert isinstance(second, Deny) and second.rules[0].rule == "gpu-budget"  # 5 + 2 > 6


def test_retire_needs_approval_and_cordon_of_unknown_node_is_denied() -> None:
    retire = Proposal(action=RetireModel(deployment=LLM, issued_at=AT), reason="idle")
    cordon = Proposal(action=CordonNode(node="ghost", issued_at=AT), reason="x")
    v1, v2 = BoundsPolicy().evaluate([retire, cordon], make_snapshot())
    assert isinstance(v1, NeedsApproval) and isinstance(v2, Deny)


@given(targets=st.lists(st.integers(0, 12), min_size=1, max_size=6), budget=st.integers(0, 10))
def test_no_allowed_batch_exceeds_the_gpu_budget(targets: list[int], budget: int) -> None:
    snap = make_snapshot(
        deployments=[make_deployment(replicas=1, max_replicas=12, min_replicas=0)], nodes=4
    )
    policy = BoundsPolicy(BoundsConfig(gpu_budget=budget))
    held = snap.allocated_gpus()
    current = 1
    for verdict, n in zip(
        policy.evaluate([_scale(n) for n in targets], snap), targets, strict=True
    ):
        if isinstance(verdict, Allow):
            grew = n > current
            held += n - current
            current = n
            if grew:
                assert held <= budget
