"""The forecast-aware planner and the baseline planners decide as documented."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

from agents.baselines import (
    DynamoConfig,
    DynamoPlanner,
    KpaConfig,
    KpaPlanner,
    OracleConfig,
    OraclePlanner,
    StaticPeakConfig,
    StaticPeakPlanner,
)
from agents.capacity import CapacityModel
from agents.forecast_aware import ForecastPlanner, ForecastPlannerConfig
from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ServingMetrics
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.testing import T0, make_deployment, make_snapshot

KEY = "default/llm-chat"
PRIORS = {KEY: {"H100-80GB": 10.0}}


def _snap(
    replicas: int = 2,
    arrival: float = 12.0,
    queue: int = 0,
    at: datetime = T0,
    capacity: float | None = None,
) -> ClusterSnapshot:
    d = make_deployment(replicas=replicas, max_replicas=8, cold_start_seconds=120.0)
    cap = replicas * 10.0 if capacity is None else capacity
    m = ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=min(arrival, cap),
        queue_depth=queue,
        gpu_utilization=min(1.0, arrival / cap) if cap else 0.0,
        capacity_rps=cap,
    )
    return make_snapshot(at=at, deployments=[d], metrics={KEY: m})


def _forecast(rates: list[float], at: datetime = T0, band: float = 0.0) -> dict[str, Forecast]:
    points = tuple(
        ForecastPoint(
            at=at + timedelta(minutes=i + 1), point=r, p10=r * (1 - band), p50=r, p90=r * (1 + band)
        )
        for i, r in enumerate(rates)
    )
    return {KEY: Forecast(key=KEY, forecaster="test", made_at=at, step_seconds=60, points=points)}


def _replicas(proposals: list) -> int | None:  # type: ignore[type-arg]
    for p in proposals:
        if isinstance(p.action, ScaleDeployment) and p.action.deployment == KEY:
            return p.action.replicas
    return None


def test_capacity_per_replica_is_learned_from_observed_capacity() -> None:
    model = CapacityModel(PRIORS, learning_rate=0.5)
    model.observe(_snap(replicas=2, capacity=10.0))  # 5 req/s per replica, not 10
    assert model.per_replica(KEY, "H100-80GB") == 7.5
    for _ in range(20):
        model.observe(_snap(replicas=2, capacity=10.0))
    assert abs(model.per_replica(KEY, "H100-80GB") - 5.0) < 0.01


def test_a_forecast_ramp_within_the_cold_start_is_prewarmed() -> None:
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    proposals = planner.plan(_snap(arrival=12.0), _forecast([12, 12, 45, 45, 45]))
    assert _replicas(proposals) == 5  # 45 req/s at 10 per replica, ready before the ramp
    assert proposals[0].reason.startswith("pre-warm")


def test_a_ramp_beyond_the_cold_start_does_not_scale_yet() -> None:
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    rates = [12.0] * 5 + [45.0]  # minute 6, past 120 s cold start + 60 s tick
    assert _replicas(planner.plan(_snap(arrival=12.0), _forecast(rates))) is None


def test_live_load_above_the_forecast_sets_a_reactive_floor() -> None:
    planner = ForecastPlanner(
        ForecastPlannerConfig(capacity_at_slo=False, floor_headroom=0.0), PRIORS
    )
    proposals = planner.plan(_snap(arrival=38.0, queue=120), _forecast([5.0] * 5))
    assert _replicas(proposals) == 4  # 38 + 120/60 = 40 req/s needs 4 replicas
    assert "live load" in proposals[0].reason


def test_scale_down_waits_for_the_dwell_and_steps_down_gradually() -> None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, min_dwell_seconds=600, max_step_down=2, floor_headroom=0.0
    )
    planner = ForecastPlanner(cfg, PRIORS)
    assert _replicas(planner.plan(_snap(replicas=2, arrival=60.0), _forecast([60.0] * 5))) == 6
    later = T0 + timedelta(minutes=5)
    quiet = _snap(replicas=6, arrival=5.0, at=later)
    assert _replicas(planner.plan(quiet, _forecast([5.0] * 5, later))) is None  # dwell
    much_later = T0 + timedelta(minutes=11)
    quiet = _snap(replicas=6, arrival=5.0, at=much_later)
    assert _replicas(planner.plan(quiet, _forecast([5.0] * 5, much_later))) == 4


def test_the_headroom_follows_recent_forecast_errors() -> None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, min_error_samples=5, quantile=0.9, floor_headroom=0.0
    )
    planner = ForecastPlanner(cfg, PRIORS)
    for i in range(12):  # the load keeps coming in 50 % above what was forecast
        at = T0 + timedelta(minutes=i)
        planner.plan(_snap(replicas=8, arrival=30.0, at=at), _forecast([20.0] * 5, at))
    at = T0 + timedelta(minutes=12)
    proposals = planner.plan(_snap(replicas=2, arrival=20.0, at=at), _forecast([20.0] * 5, at))
    assert _replicas(proposals) == 3  # 20 x 1.5 = 30 req/s
    assert any(e.name == "headroom" and e.value == 1.5 for e in proposals[0].evidence)


class _Outlook:
    def __init__(self, rates: dict[int, float], cv: float = 0.0) -> None:
        self.rates, self.cv = rates, cv

    def burstiness_cv(self, key: str) -> float:
        return self.cv

    def peak_rate(self, key: str, start: datetime, end: datetime) -> float:
        lo, hi = int((start - T0).total_seconds()), int((end - T0).total_seconds())
        return max(r for t, r in self.rates.items() if lo <= t < hi)

    def overall_peak(self, key: str) -> float:
        return max(self.rates.values())


def test_the_oracle_starts_replicas_one_cold_start_early() -> None:
    outlook = _Outlook({0: 10.0, 60: 10.0, 120: 55.0, 400: 80.0})
    planner = OraclePlanner(OracleConfig(), PRIORS, outlook)
    assert _replicas(planner.plan(_snap(replicas=1, arrival=10.0), {})) == 6  # 55 within 180 s


def test_the_oracle_sizes_for_capacity_at_slo_when_the_load_is_bursty() -> None:
    outlook = _Outlook({0: 38.0}, cv=1.5)
    planner = OraclePlanner(OracleConfig(), PRIORS, outlook)
    proposals = planner.plan(_snap(replicas=1, arrival=10.0), {})
    assert _replicas(proposals) == 5  # 38 req/s with bursts needs more than the raw 4
    util = next(e.value for e in proposals[0].evidence if e.name == "utilisation_at_slo")
    assert isinstance(util, float) and 0.5 < util < 0.95


def test_the_forecast_planner_sizes_for_capacity_at_slo_by_default() -> None:
    raw = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    at_slo = ForecastPlanner(ForecastPlannerConfig(), PRIORS)
    snap, fc = _snap(replicas=4, arrival=30.0), _forecast([30.0] * 5)
    assert _replicas(raw.plan(snap, fc)) == 3
    assert _replicas(at_slo.plan(snap, fc)) is None  # 30 req/s with bursts: keep 4


def test_a_scale_up_step_is_limited_like_hpa() -> None:
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    proposals = planner.plan(_snap(replicas=1, arrival=75.0), _forecast([75.0] * 5))
    assert _replicas(proposals) == 5  # 8 wanted; at most max(x2, +4) per tick


def test_static_peak_sizes_for_the_whole_run_and_never_asks_for_what_cannot_fit() -> None:
    planner = StaticPeakPlanner(StaticPeakConfig(), PRIORS, _Outlook({0: 10.0, 900: 55.0}))
    assert _replicas(planner.plan(_snap(replicas=1), {})) == 6
    huge = StaticPeakPlanner(StaticPeakConfig(), PRIORS, _Outlook({0: 500.0}))
    assert _replicas(huge.plan(_snap(replicas=1), {})) == 8  # 8 GPUs in the cluster


def test_kpa_does_not_scale_down_in_panic_mode() -> None:
    planner = KpaPlanner(KpaConfig(), PRIORS)
    assert _replicas(planner.plan(_snap(replicas=2, arrival=45.0), {})) == 7  # 45/0.7/10
    calm = _snap(replicas=7, arrival=1.0, at=T0 + timedelta(seconds=30))
    assert _replicas(planner.plan(calm, {})) is None  # still inside the panic window


def test_dynamo_moves_one_replica_above_its_last_value_floor() -> None:
    planner = DynamoPlanner(DynamoConfig(), PRIORS)
    assert _replicas(planner.plan(_snap(replicas=3, arrival=29.0), {})) == 4  # busy: +1
    assert _replicas(planner.plan(_snap(replicas=3, arrival=21.0), {})) is None  # floor 3


def test_planners_survive_a_checkpoint_round_trip() -> None:
    planner = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    planner.plan(_snap(), _forecast([12.0] * 5))
    restored = pickle.loads(pickle.dumps(planner))
    assert restored.capacity.estimates == planner.capacity.estimates
    assert len(pickle.dumps(planner)) < 20_000
