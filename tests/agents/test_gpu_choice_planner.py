"""The GPU-choice planner moves a deployment to the GPU type that serves its demand at SLO
for the least money: only beyond its margin, only with free GPUs of that type for every
replica, at most once per cooldown window, with the costs as evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.composite import CompositePlanner
from agents.gpu_choice import GpuChoiceConfig, GpuChoicePlanner
from gpusteward.app.parts import build_planner
from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.core.actions import MoveDeployment, Proposal, ScaleDeployment
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    ModelDeployment,
    Node,
    Pool,
    ServingMetrics,
    WorkloadClass,
)
from gpusteward.testing import StaticPlanner, make_deployment, make_snapshot

AT = datetime(2026, 11, 2, 12, tzinfo=UTC)
KEY = "default/llm-chat"
PRIORS = {KEY: {"A100-80GB": 10.0, "H100-80GB": 30.0}}


def _node(
    name: str, gpu_type: str, price: float, *, used: int = 0, pool: Pool = Pool.ON_PREM
) -> Node:
    gpus = tuple(
        Gpu(index=i, type=gpu_type, memory_gib=80.0, allocated_to="other" if i < used else None)
        for i in range(4)
    )
    return Node(name=name, pool=pool, price_per_gpu_hour=price, gpus=gpus)


def _snapshot(
    *,
    h100_price: float = 3.0,
    h100_used: int = 0,
    rps: float = 12.0,
    at: datetime = AT,
    deployment: ModelDeployment | None = None,
    h100_pool: Pool = Pool.ON_PREM,
) -> ClusterSnapshot:
    """2 replicas of llm-chat on A100s ($2/GPU-h, 10 req/s each); an H100 node beside them
    ($3/GPU-h by default, 30 req/s per replica)."""
    nodes = [
        _node("a100-0", "A100-80GB", 2.0),
        _node("h100-0", "H100-80GB", h100_price, used=h100_used, pool=h100_pool),
    ]
    d = deployment or make_deployment()
    metrics = ServingMetrics(arrival_rate_rps=rps, served_rate_rps=rps, queue_depth=0)
    return make_snapshot(at=at, nodes=nodes, deployments=[d], metrics={KEY: metrics})


def _planner(**overrides: object) -> GpuChoicePlanner:
    config = GpuChoiceConfig.model_validate({"at_slo": False, **overrides})
    return GpuChoicePlanner(config, PRIORS)


def _evidence(p: Proposal) -> dict[str, float | int | str | bool]:
    return {e.name: e.value for e in p.evidence}


def test_the_deployment_moves_to_the_type_that_is_cheaper_per_request() -> None:
    (p,) = _planner().plan(_snapshot(), {})
    assert p.action == MoveDeployment(deployment=KEY, to_gpu_type="H100-80GB", issued_at=AT)
    assert p.planner == "gpu-choice"
    assert "Move to H100-80GB" in p.reason


def test_the_proposal_carries_the_costs_of_every_option_and_the_free_gpus() -> None:
    (p,) = _planner().plan(_snapshot(), {})
    ev = _evidence(p)
    # 12 req/s: 2 A100 replicas ($4/h) against 1 H100 replica ($3/h)
    assert ev["current_gpu_type"] == "A100-80GB" and ev["target_gpu_type"] == "H100-80GB"
    assert ev["cost_per_hour_now"] == 4.0
    assert ev["cost_per_hour_current_type"] == 4.0
    assert ev["cost_per_hour_after"] == 3.0
    assert ev["replicas_after"] == 1
    assert ev["free_gpus_target"] == 4
    assert ev["usd_per_1k_requests[A100-80GB]"] == round(4.0 / (12 * 3.6), 6)
    assert ev["usd_per_1k_requests[H100-80GB]"] == round(3.0 / (12 * 3.6), 6)


def test_no_move_when_the_saving_is_within_the_margin() -> None:
    # H100 at $3.8/h: $3.8 against $4.0 now, 5 % cheaper, inside the 10 % margin
    assert _planner().plan(_snapshot(h100_price=3.8), {}) == []
    # the same saving is taken when the margin is smaller
    assert len(_planner(margin=0.02).plan(_snapshot(h100_price=3.8), {})) == 1


def test_no_move_when_the_target_type_is_already_the_more_expensive_one() -> None:
    # 12 req/s on H100 at $9/GPU-h ($9/h) against A100 ($4/h): stay
    assert _planner().plan(_snapshot(h100_price=9.0), {}) == []


def test_no_move_without_free_gpus_of_the_target_type_for_every_replica() -> None:
    # 1 free H100: enough for the 1 replica it would need, not for the 2 a move starts
    assert _planner().plan(_snapshot(h100_used=3), {}) == []
    assert len(_planner().plan(_snapshot(h100_used=2), {})) == 1


def test_no_move_onto_a_pool_the_deployment_may_not_use() -> None:
    on_prem_only = make_deployment(pools=(Pool.ON_PREM,))
    assert _planner().plan(_snapshot(deployment=on_prem_only, h100_pool=Pool.SPOT), {}) == []
    assert _planner().plan(_snapshot(h100_pool=Pool.TRAINING), {}) == []


def test_at_most_one_move_per_deployment_per_cooldown_window() -> None:
    planner = _planner(cooldown_seconds=3600)
    assert len(planner.plan(_snapshot(), {})) == 1
    assert planner.plan(_snapshot(at=AT + timedelta(minutes=1)), {}) == []
    assert planner.plan(_snapshot(at=AT + timedelta(minutes=59)), {}) == []
    assert len(planner.plan(_snapshot(at=AT + timedelta(hours=1)), {})) == 1


def test_no_move_for_a_deployment_mid_scale() -> None:
    settled = _snapshot().deployments[0]
    scaling_up = settled.model_copy(update={"replicas": 3})
    snap = _snapshot()
    snap = snap.model_copy(update={"deployments": (scaling_up,)})
    assert _planner().plan(snap, {}) == []


def test_training_retired_and_single_profile_deployments_are_left_alone() -> None:
    training = make_deployment(workload=WorkloadClass.TRAINING)
    retired = make_deployment(retired=True)
    assert _planner().plan(_snapshot(deployment=training), {}) == []
    assert _planner().plan(_snapshot(deployment=retired), {}) == []
    one_type = GpuChoicePlanner(GpuChoiceConfig(at_slo=False), {KEY: {"A100-80GB": 10.0}})
    assert one_type.plan(_snapshot(), {}) == []


def test_no_move_without_traffic() -> None:
    assert _planner().plan(_snapshot(rps=0.0), {}) == []


def test_sizing_for_the_slo_needs_more_capacity_than_raw_throughput() -> None:
    (raw,) = _planner().plan(_snapshot(), {})
    (at_slo,) = _planner(at_slo=True).plan(_snapshot(), {})
    slo_need, raw_need = (float(_evidence(p)["demand_at_slo_rps"]) for p in (at_slo, raw))
    assert slo_need > raw_need == 12.0


def test_a_scenario_runs_gpu_choice_as_a_composite_member_with_the_profile_priors() -> None:
    base = load_scenario("quickstart")
    planner_block = {"kind": "composite", "scaling": {"kind": "reactive"}, "gpu_choice": {}}
    scenario = Scenario.model_validate({**base.model_dump(), "planner": planner_block})
    planner = build_planner(scenario)
    assert isinstance(planner, CompositePlanner)
    assert planner.members == ("reactive", "gpu-choice")
    member = planner.planners[1]
    assert isinstance(member, GpuChoicePlanner)
    assert member.capacity.per_replica("serving/m-large", "H100-80GB") == 1.6


def test_a_move_the_composite_drops_for_a_scale_starts_no_cooldown() -> None:
    gpu_choice = _planner(cooldown_seconds=3600)
    scale = Proposal(
        action=ScaleDeployment(deployment=KEY, replicas=3, issued_at=AT), reason="busy"
    )
    composite = CompositePlanner(StaticPlanner([scale], name="scaling"), [gpu_choice])
    assert composite.plan(_snapshot(), {}) == [scale]  # scaling wins the deployment
    assert composite.last_dropped == (("gpu-choice", f"move {KEY} to H100-80GB"),)
    (p,) = gpu_choice.plan(_snapshot(at=AT + timedelta(minutes=1)), {})
    assert isinstance(p.action, MoveDeployment)
