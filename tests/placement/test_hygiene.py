"""Model hygiene finds idle models, duplicates and A/B leftovers, with evidence."""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.hygiene import HygieneConfig, HygienePlanner
from gpusteward.core.actions import ConsolidateModels, Proposal, RetireModel
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
from gpusteward.core.load import LoadSeries
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import NeedsApproval
from gpusteward.testing import make_deployment, make_snapshot
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

DAY = 86400.0
T0 = datetime.fromisoformat("2026-11-02T00:00:00+00:00")


def _metrics(rps: float) -> ServingMetrics:
    return ServingMetrics(arrival_rate_rps=rps, served_rate_rps=rps, queue_depth=0)


def _run(
    deps: list[ModelDeployment],
    rates: dict[str, float],
    days: float = 1.0,
    window_days: float = 1.0,
) -> tuple[list[Proposal], ClusterSnapshot]:
    planner = HygienePlanner(HygieneConfig(window_seconds=window_days * DAY))
    step = 3600.0
    out: list[Proposal] = []
    snap = None
    for i in range(int(days * DAY / step) + 1):
        snap = make_snapshot(
            at=T0 + timedelta(seconds=i * step),
            nodes=4,
            deployments=deps,
            metrics={k: _metrics(v) for k, v in rates.items()},
            interval_seconds=step,
        )
        out = planner.plan(snap, {})
    assert snap is not None
    return out, snap


def test_an_idle_model_is_proposed_for_retirement_with_evidence() -> None:
    deps = [make_deployment("busy"), make_deployment("idle", model="old/model")]
    out, _ = _run(deps, {"default/busy": 20.0, "default/idle": 0.0})
    (p,) = out
    assert isinstance(p.action, RetireModel) and p.action.deployment == "default/idle"
    ev = {e.name: e.value for e in p.evidence}
    assert ev["mean_rps"] == 0 and ev["last_request"] == "none in window"
    assert ev["gpu_hours"] > 0


def test_retirement_always_waits_for_a_human_in_the_default_pack() -> None:
    deps = [make_deployment("busy"), make_deployment("idle", model="old/model")]
    out, snap = _run(deps, {"default/busy": 20.0, "default/idle": 0.0})
    engine = RulePolicyEngine(load_policy((PACKS_DIR / "default.yaml").read_text(), "default"))
    history = LoadSeries(
        key="default/idle",
        start=snap.at - timedelta(days=7),
        step_seconds=3600.0,
        values=(0.0,) * (7 * 24),
    )
    (verdict,) = engine.evaluate(out, snap, GuardInputs(load={"default/idle": history}))
    assert isinstance(verdict, NeedsApproval), verdict


def test_nothing_is_judged_before_the_window_is_observed() -> None:
    deps = [make_deployment("idle", model="old/model")]
    out, _ = _run(deps, {"default/idle": 0.0}, days=0.5, window_days=1.0)
    assert out == []


def test_duplicate_variants_are_consolidated_into_the_busiest() -> None:
    deps = [make_deployment("a"), make_deployment("b")]  # same model, same version
    out, _ = _run(deps, {"default/a": 30.0, "default/b": 5.0})
    (p,) = out
    assert isinstance(p.action, ConsolidateModels)
    assert p.action.sources == ("default/b",) and p.action.into == "default/a"
    assert "duplicate" in p.reason


def test_an_ab_leftover_is_consolidated_into_the_leading_version() -> None:
    deps = [make_deployment("v1", version="v1"), make_deployment("v2", version="v2")]
    out, _ = _run(deps, {"default/v1": 0.5, "default/v2": 40.0})
    (p,) = out
    assert isinstance(p.action, ConsolidateModels)
    assert p.action.sources == ("default/v1",) and p.action.into == "default/v2"
    assert "A/B leftover" in p.reason


def test_two_live_versions_sharing_traffic_are_left_alone() -> None:
    deps = [make_deployment("v1", version="v1"), make_deployment("v2", version="v2")]
    out, _ = _run(deps, {"default/v1": 20.0, "default/v2": 25.0})
    assert out == []
