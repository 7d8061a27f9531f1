"""The forecast planner's first look at a deployment: nothing measured is no decision."""

from __future__ import annotations

from datetime import timedelta

from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ServingMetrics
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.testing import T0, make_deployment, make_snapshot

KEY = "default/llm-chat"
PRIORS = {KEY: {"H100-80GB": 10.0}}


def _snap(arrival: float, capacity: float, minutes: int = 0) -> ClusterSnapshot:
    d = make_deployment(replicas=4, max_replicas=20, cold_start_seconds=120.0)
    m = ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=min(arrival, capacity),
        queue_depth=0,
        capacity_rps=capacity,
    )
    return make_snapshot(at=T0 + timedelta(minutes=minutes), deployments=[d], metrics={KEY: m})


def test_a_first_snapshot_before_any_interval_is_measured_scales_nothing_down() -> None:
    """At a simulator's first instant the metrics show no traffic and no capacity for 4
    ready replicas: the planner used to scale them down to 2 there (the quickstart day)."""
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    assert planner.plan(_snap(arrival=0.0, capacity=0.0), {}) == []
    # the next tick measures the load, and the planner sizes for it
    proposals = planner.plan(_snap(arrival=70.0, capacity=40.0, minutes=1), {})
    action = proposals[0].action
    assert isinstance(action, ScaleDeployment) and action.replicas == 7  # 70 req/s at 10 each


def test_a_deployment_seen_before_with_no_traffic_is_still_planned_for() -> None:
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    planner.plan(_snap(arrival=5.0, capacity=40.0), {})
    # no traffic and no capacity reported later (a source that reports none) is planned for
    later = planner.plan(_snap(arrival=0.0, capacity=0.0, minutes=11), {})
    action = later[0].action
    assert isinstance(action, ScaleDeployment) and action.replicas < 4


def _flat(rate: float, minutes: int) -> dict[str, Forecast]:
    """A zero-width last-value forecast, as the forecaster gives before it has history."""
    at = T0 + timedelta(minutes=minutes)
    points = tuple(
        ForecastPoint(at=at + timedelta(minutes=i + 1), point=rate, p10=rate, p50=rate, p90=rate)
        for i in range(5)
    )
    return {
        KEY: Forecast(key=KEY, forecaster="last-value", made_at=at, step_seconds=60, points=points)
    }


def test_before_its_own_forecast_errors_the_headroom_comes_from_the_loads_own_rises() -> None:
    """A new deployment: the forecaster's fallback band has no width, and no forecast has
    been scored yet; the load's rises over the lead, seen so far, size the headroom."""
    cfg = ForecastPlannerConfig(capacity_at_slo=False, floor_headroom=0.0)
    planner = ForecastPlanner(cfg, PRIORS)
    seen = []
    for minute in range(30):  # the load alternates between 20 and 30 req/s every 3 minutes
        rate = 30.0 if (minute // 3) % 2 else 20.0
        snap = _snap(arrival=rate, capacity=80.0, minutes=minute)
        seen += planner.plan(snap, _flat(rate, minute))
    evidence = [{e.name: e.value for e in p.evidence} for p in seen]
    late = [e for e in evidence if "rises of the observed load" in str(e["headroom_from"])]
    assert late, [e["headroom_from"] for e in evidence]
    headroom = [float(e["headroom"]) for e in late]
    assert headroom[0] > 1.2  # the load has risen by half over the lead a share of the time
