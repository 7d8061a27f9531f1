"""The reactive planner behaves like Kubernetes HPA."""

from datetime import timedelta

from agents.reactive import ReactiveConfig, ReactivePlanner
from gpusteward.core.actions import ScaleDeployment
from gpusteward.testing import make_deployment, make_snapshot

LLM = "default/llm-chat"


def _scale_to(planner: ReactivePlanner, **kw) -> int | None:  # type: ignore[no-untyped-def]
    snap = make_snapshot(deployments=[make_deployment(replicas=4, max_replicas=16)], **kw)
    for p in planner.plan(snap, {}):
        assert isinstance(p.action, ScaleDeployment)
        if p.action.deployment == LLM:
            return p.action.replicas
    return None


def test_utilisation_above_target_scales_up_by_the_hpa_formula() -> None:
    # 4 ready at 100 % with target 70 %: ceil(4 * 1.0 / 0.7) = 6
    assert _scale_to(ReactivePlanner(ReactiveConfig(target_utilisation=0.7)), load=1.0) == 6


def test_utilisation_inside_the_tolerance_band_does_nothing() -> None:
    assert _scale_to(ReactivePlanner(ReactiveConfig(target_utilisation=0.7)), load=0.74) is None


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    planner = ReactivePlanner(ReactiveConfig(scale_down_stabilisation_seconds=300))
    snap = make_snapshot(deployments=[make_deployment(replicas=4, max_replicas=16)], load=0.7)
    assert planner.plan(snap, {}) == []  # at target: recommendation 4 remembered
    later = snap.at + timedelta(seconds=120)
    low = make_snapshot(deployments=[make_deployment(replicas=4)], load=0.2, at=later)
    assert [p for p in planner.plan(low, {}) if p.action.target == LLM] == []
    much_later = snap.at + timedelta(seconds=400)
    low2 = make_snapshot(deployments=[make_deployment(replicas=4)], load=0.2, at=much_later)
    downs = [p for p in planner.plan(low2, {}) if p.action.target == LLM]
    assert downs and isinstance(downs[0].action, ScaleDeployment)
    assert downs[0].action.replicas == 2  # ceil(4 * 0.2 / 0.7)


def test_recommendations_are_clamped_to_max_replicas_and_carry_evidence() -> None:
    planner = ReactivePlanner()
    snap = make_snapshot(deployments=[make_deployment(replicas=4, max_replicas=5)], load=1.0)
    (proposal,) = [p for p in planner.plan(snap, {}) if p.action.target == LLM]
    assert isinstance(proposal.action, ScaleDeployment) and proposal.action.replicas == 5
    assert {e.name for e in proposal.evidence} >= {"gpu_utilization", "ready_replicas"}
    assert "utilisation" in proposal.reason


def test_scale_up_waits_for_the_scale_up_stabilisation_window() -> None:
    """HPA's scaleUp stabilizationWindowSeconds: the lowest recommendation of the window."""
    planner = ReactivePlanner(ReactiveConfig(scale_up_stabilisation_seconds=600))
    start = make_snapshot(deployments=[make_deployment(replicas=4, max_replicas=16)], load=0.7)
    assert planner.plan(start, {}) == []  # at target: recommendation 4 remembered
    for seconds in (120, 300, 540):
        hot = make_snapshot(
            deployments=[make_deployment(replicas=4, max_replicas=16)],
            load=1.0,
            at=start.at + timedelta(seconds=seconds),
        )
        assert [p for p in planner.plan(hot, {}) if p.action.target == LLM] == []
    late = make_snapshot(
        deployments=[make_deployment(replicas=4, max_replicas=16)],
        load=1.0,
        at=start.at + timedelta(seconds=660),
    )
    ups = [p for p in planner.plan(late, {}) if p.action.target == LLM]
    assert ups and isinstance(ups[0].action, ScaleDeployment) and ups[0].action.replicas == 6
