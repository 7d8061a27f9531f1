"""The forecast-aware planner and the baseline planners decide as documented."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest

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
from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ServingMetrics
from gpusteward.core.load import Forecast, ForecastPoint
from gpusteward.daemon.resume import load_checkpoint, restore_planner, write_checkpoint
from gpusteward.testing import T0, make_deployment, make_snapshot

KEY = "default/llm-chat"
PRIORS = {KEY: {"H100-80GB": 10.0}}


def _snap(
    replicas: int = 2,
    arrival: float = 12.0,
    queue: int = 0,
    at: datetime = T0,
    capacity: float | None = None,
    attainment: float | None = None,
) -> ClusterSnapshot:
    d = make_deployment(replicas=replicas, max_replicas=8, cold_start_seconds=120.0)
    cap = replicas * 10.0 if capacity is None else capacity
    m = ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=min(arrival, cap),
        queue_depth=queue,
        gpu_utilization=min(1.0, arrival / cap) if cap else 0.0,
        capacity_rps=cap,
        slo_attainment=attainment,
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
    cfg = ForecastPlannerConfig(capacity_at_slo=False, floor_headroom=0.0, drain_ahead="off")
    planner = ForecastPlanner(cfg, PRIORS)
    proposals = planner.plan(_snap(arrival=38.0, queue=120), _forecast([5.0] * 5))
    assert _replicas(proposals) == 4  # 38 + 120/60 = 40 req/s needs 4 replicas
    assert "live load" in proposals[0].reason
    # `always`: the floor is for the queue new replicas will find when ready: 120 + 120 s
    # x (38 - 20) = 2,280 requests, 38 + 2280/60 = 76 req/s; HPA's step limit allows 6.
    planner = ForecastPlanner(cfg.model_copy(update={"drain_ahead": "always"}), PRIORS)
    proposals = planner.plan(_snap(arrival=38.0, queue=120), _forecast([5.0] * 5))
    assert _replicas(proposals) == 6 and "live load" in proposals[0].reason


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
        capacity_at_slo=False,
        min_error_samples=5,
        quantile=0.9,
        floor_headroom=0.0,
        volatility_scaled=False,
    )
    planner = ForecastPlanner(cfg, PRIORS)
    for i in range(12):  # the load keeps coming in 50 % above what was forecast
        at = T0 + timedelta(minutes=i)
        planner.plan(_snap(replicas=8, arrival=30.0, at=at), _forecast([20.0] * 5, at))
    at = T0 + timedelta(minutes=12)
    proposals = planner.plan(_snap(replicas=2, arrival=20.0, at=at), _forecast([20.0] * 5, at))
    assert _replicas(proposals) == 3  # 20 x 1.5 = 30 req/s
    assert any(e.name == "headroom" and e.value == 1.5 for e in proposals[0].evidence)


def _evidence(proposals: list, name: str) -> object:  # type: ignore[type-arg]
    return next(e.value for e in proposals[0].evidence if e.name == name)


def test_slo_misses_raise_the_headroom_quantile_and_spare_budget_lowers_it() -> None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False,
        min_dwell_seconds=0,
        hysteresis=0,
        slo_feedback=True,
        feedback_acts_on="quantile",
        quantile=0.8,  # the base the feedback moves from
    )
    planner = ForecastPlanner(cfg, PRIORS)

    def quantile_at(minute: int, attainment: float) -> float:
        at = T0 + timedelta(minutes=minute)
        snap = _snap(replicas=1, arrival=12.0, at=at, attainment=attainment)
        return float(_evidence(planner.plan(snap, _forecast([12.0] * 5, at)), "quantile"))  # type: ignore[arg-type]

    assert quantile_at(0, 1.0) <= 0.8  # within budget: never higher
    raised = [quantile_at(i, 0.5) for i in range(1, 4)]  # half the requests missed
    assert raised[0] > 0.8 and raised[2] > raised[1] > raised[0]
    assert raised[2] <= cfg.max_quantile
    lowered = [quantile_at(i, 1.0) for i in range(4, 7000)]
    assert all(b <= a for a, b in itertools.pairwise(lowered))
    assert lowered[-1] == cfg.min_quantile  # budget to spare for days: as low as allowed

    fixed = ForecastPlanner(cfg.model_copy(update={"slo_feedback": False}), PRIORS)
    at = T0
    snap = _snap(replicas=1, arrival=12.0, at=at, attainment=0.5)
    assert _evidence(fixed.plan(snap, _forecast([12.0] * 5, at)), "quantile") == 0.8


def test_slo_misses_raise_a_margin_over_the_live_load_and_spare_budget_removes_it() -> None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False,
        min_dwell_seconds=0,
        hysteresis=0,
        max_step_down=8,
        slo_feedback=True,
        feedback_acts_on="margin",
        margin_gain=0.05,
        volatility_scaled=False,
    )
    planner = ForecastPlanner(cfg, PRIORS)

    def decide(minute: int, attainment: float) -> tuple[float, int | None]:
        at = T0 + timedelta(minutes=minute)
        snap = _snap(replicas=4, arrival=39.0, at=at, attainment=attainment)
        proposals = planner.plan(snap, _forecast([39.0] * 5, at))
        margin = planner._memory[KEY].margin
        if proposals:
            assert _evidence(proposals, "slo_margin") == round(margin, 4)
        return margin, _replicas(proposals)

    assert decide(0, 1.0) == (0.0, None)  # within budget: no margin, 4 replicas hold
    raised = [decide(i, 0.5) for i in range(1, 4)]  # half the requests missed
    assert 0 < raised[0][0] < raised[1][0] < raised[2][0] <= cfg.max_feedback_margin
    assert raised[-1][1] == 5  # 39 req/s x (1 + margin) needs a fifth replica
    at = T0 + timedelta(minutes=4)
    snap = _snap(replicas=4, arrival=39.0, at=at, attainment=0.5)
    assert "margin for SLO misses" in planner.plan(snap, _forecast([39.0] * 5, at))[0].reason
    assert planner._memory[KEY].quantile_shift == 0.0  # the quantile does not move
    for i in range(5, 7000):  # budget to spare for days: the margin goes
        margin, *_ = decide(i, 1.0)
    assert margin == 0.0


def test_a_ramp_that_recurs_at_the_same_minute_is_prewarmed_and_released_if_it_does_not_come() -> (
    None
):
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, phase_prewarm=True, phase_min_samples=4, demand_hysteresis=None
    )
    planner = ForecastPlanner(cfg, PRIORS)
    replicas = 3
    start = T0.replace(minute=0, second=0, microsecond=0)

    def tick(minute: int, load: float) -> list:  # type: ignore[type-arg]
        nonlocal replicas
        at = start + timedelta(minutes=minute)
        proposals = planner.plan(
            _snap(replicas=replicas, arrival=load, at=at), _forecast([load] * 5, at)
        )
        replicas = _replicas(proposals) or replicas
        return proposals

    for minute in range(5 * 60):  # a client runs from minute 30 to 40 of every hour
        tick(minute, 60.0 if 30 <= minute % 60 < 40 else 30.0)
    for minute in range(5 * 60, 5 * 60 + 25):
        tick(minute, 30.0)
    assert replicas == 3
    # From one cold start (120 s) + one tick before the ramp's rise shows in the 3-tick
    # mean that a rise is measured over, the ramp is pre-warmed for: x2 by minute 27.
    reasons = [p.reason for m in range(5 * 60 + 25, 5 * 60 + 28) for p in tick(m, 30.0)]
    assert replicas == 6 and reasons  # the rise smears over minutes 28-30 in that mean
    assert all(re.search(r"risen at minute (28|29|30) of the hour", r) for r in reasons)
    # The ramp does not come this time: once the minutes it rose at have passed, the
    # replicas started for it go at once, inside the hysteresis band and the minimum
    # dwell that would otherwise hold them.
    decided = [(m, p.reason) for m in range(5 * 60 + 28, 5 * 60 + 36) for p in tick(m, 30.0)]
    assert replicas == 3 and len(decided) == 1 and "did not come" in decided[0][1]
    assert 5 * 60 + 30 <= decided[0][0] <= 5 * 60 + 35  # the mean rises smear to minute 34
    # What the daemon's checkpoint writes (JSON, schema version 1) brings the rises back.
    written = write_checkpoint(1, T0, planner, None)
    restored = ForecastPlanner(cfg, PRIORS)
    restore_planner(restored, load_checkpoint(written), "test")
    assert restored._memory[KEY].phase == planner._memory[KEY].phase
    phase = planner._memory[KEY].phase
    assert sum(len(r) for r in phase.values()) >= 280  # about 60 minutes x 5 hours of rises
    # The whole checkpoint (JSON, rewritten in place each tick), five hours of rises in it:
    # about 41 KB here.
    assert len(written) < 60_000


def test_an_outage_sets_the_forecast_aside_and_returning_traffic_prewarms() -> None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, min_dwell_seconds=0, max_step_down=8, outage_after_seconds=300
    )
    planner = ForecastPlanner(cfg, PRIORS)
    replicas = 6
    for i in range(10):  # 55 req/s: 6 replicas
        at = T0 + timedelta(minutes=i)
        planner.plan(_snap(replicas=replicas, arrival=55.0, at=at), _forecast([55.0] * 5, at))
    # No traffic at all; the hole-aware forecaster keeps forecasting the old level.
    decided = []
    for i in range(10, 20):
        at = T0 + timedelta(minutes=i)
        proposals = planner.plan(
            _snap(replicas=replicas, arrival=0.0, at=at), _forecast([55.0] * 5, at)
        )
        if (n := _replicas(proposals)) is not None:
            decided.append((i, n, proposals[0].reason))
            replicas = n
    assert decided and decided[0][0] == 15  # 300 s of nothing is an outage
    assert replicas == 1 and "outage" in decided[0][2]
    # A trickle comes back first (the forecaster now sees 0.1 req/s as the level).
    at = T0 + timedelta(minutes=20)
    proposals = planner.plan(_snap(replicas=1, arrival=0.1, at=at), _forecast([0.1] * 5, at))
    assert _replicas(proposals) == 5  # the step up is limited like HPA: +4
    assert "outage" in proposals[0].reason
    at = T0 + timedelta(minutes=21)
    proposals = planner.plan(_snap(replicas=5, arrival=0.1, at=at), _forecast([0.1] * 5, at))
    assert _replicas(proposals) == 6  # 55 req/s, as before the outage
    # Past the hold with the load still low, the planner follows the forecast again.
    at = T0 + timedelta(seconds=20 * 60 + cfg.resume_hold_seconds + 60)
    proposals = planner.plan(_snap(replicas=6, arrival=0.1, at=at), _forecast([0.1] * 5, at))
    assert _replicas(proposals) == 1


def test_an_outage_and_the_return_from_it_do_not_count_as_volatility() -> None:
    cfg = ForecastPlannerConfig(capacity_at_slo=False, outage_after_seconds=300)
    planner = ForecastPlanner(cfg, PRIORS)

    def volatility(minute: int, arrival: float) -> float:
        at = T0 + timedelta(minutes=minute)
        planner.plan(_snap(replicas=6, arrival=arrival, at=at), _forecast([55.0] * 5, at))
        return planner._memory[KEY].sigma  # what the headroom is scaled by

    for i in range(20):  # a steady 55 req/s
        assert volatility(i, 55.0) == cfg.volatility_floor
    for i in range(20, 30):  # an outage, then a trickle, then the old level again
        volatility(i, 0.0)
    volatility(30, 0.1)
    for i in range(31, 60):
        assert volatility(i, 55.0) == cfg.volatility_floor
    for i in range(60, 72):  # a real swing is still seen
        swing = volatility(i, 80.0 if (i // 5) % 2 else 40.0)
    assert swing > 0.1  # against 0.03 while steady


def test_the_headroom_is_taken_from_errors_made_in_a_similar_state() -> None:
    def run(conditional: bool) -> tuple[object, object, str]:
        cfg = ForecastPlannerConfig(
            capacity_at_slo=False,
            quantile=0.9,
            min_error_samples=5,
            min_state_samples=5,
            score_smoothing_ticks=0,
            conditional_headroom=conditional,
            volatility_scaled=False,
        )
        planner = ForecastPlanner(cfg, PRIORS)

        def tick(minute: int, arrival: float, forecast: float) -> list:  # type: ignore[type-arg]
            at = T0 + timedelta(minutes=minute)
            return planner.plan(
                _snap(replicas=1, arrival=arrival, at=at), _forecast([forecast] * 5, at)
            )

        for i in range(30):  # near its peak: forecasts are right
            tick(i, 60.0, 60.0)
        for i in range(30, 60):  # after a drop to half: the load keeps beating the forecast
            tick(i, 30.0, 20.0)
        after_drop = tick(60, 30.0, 30.0)
        for i in range(61, 95):  # the old peak leaves the last hour: 30 req/s is the peak now
            tick(i, 30.0, 30.0)
        at_peak = tick(95, 30.0, 30.0)
        return (
            _evidence(after_drop, "headroom"),
            _evidence(at_peak, "headroom"),
            str(_evidence(at_peak, "headroom_from")),
        )

    after_drop, at_peak, source = run(conditional=True)
    assert after_drop == 1.5 and at_peak == 1.0
    assert "within" in source and "peak" in source
    pooled_after_drop, pooled_at_peak, _ = run(conditional=False)
    assert pooled_after_drop == 1.5 and pooled_at_peak == 1.5  # the drop's errors linger


def test_the_headroom_scales_with_the_loads_recent_volatility() -> None:
    def run(scaled: bool) -> tuple[float, float]:
        cfg = ForecastPlannerConfig(
            capacity_at_slo=False,
            quantile=0.9,
            min_error_samples=5,
            score_smoothing_ticks=0,
            conditional_headroom=False,
            near_peak_quantile=None,
            volatility_scaled=scaled,
            volatility_lag_seconds=300,
        )
        planner = ForecastPlanner(cfg, PRIORS)

        def headroom(minute: int, arrival: float) -> float:
            at = T0 + timedelta(minutes=minute)
            snap = _snap(replicas=1, arrival=arrival, at=at)
            proposals = planner.plan(snap, _forecast([arrival * 0.95] * 5, at))
            return float(_evidence(proposals, "headroom"))  # type: ignore[arg-type]

        for i in range(60):  # calm: a steady 60 req/s, forecast 5 % low
            calm = headroom(i, 60.0)
        for i in range(60, 72):  # choppy: 40 and 80 req/s in turns of 5 minutes
            choppy = headroom(i, 80.0 if (i // 5) % 2 else 40.0)
        return calm, choppy

    calm, choppy = run(scaled=True)
    assert calm == pytest.approx(1 / 0.95, rel=1e-3)  # errors scale back to what they were
    assert choppy >= 1.25  # at once: the choppy load's errors have not arrived yet
    calm_unscaled, choppy_unscaled = run(scaled=False)
    assert calm_unscaled == pytest.approx(1 / 0.95, rel=1e-3)
    assert choppy_unscaled < 1.1  # the calm hour's errors still dominate


def test_a_near_peak_quantile_applies_only_near_the_recent_peak() -> None:
    cfg = ForecastPlannerConfig(capacity_at_slo=False, quantile=0.9, near_peak_quantile=0.7)
    planner = ForecastPlanner(cfg, PRIORS)

    def quantile(minute: int, arrival: float) -> object:
        at = T0 + timedelta(minutes=minute)
        snap = _snap(replicas=1, arrival=arrival, at=at)
        return _evidence(planner.plan(snap, _forecast([arrival] * 5, at)), "quantile")

    assert quantile(0, 60.0) == 0.7  # at its (only) peak
    for i in range(1, 10):
        quantile(i, 60.0)
    assert quantile(10, 59.0) == 0.7  # within 18 % of the last hour's peak
    for i in range(11, 16):  # the load halves; its 5-tick mean follows
        quantile(i, 30.0)
    assert quantile(16, 30.0) == 0.9


class _Outlook:
    def __init__(
        self, rates: dict[int, float], cv: float = 0.0, cvs: dict[int, float] | None = None
    ) -> None:
        self.rates, self.cv, self.cvs = rates, cv, cvs or {}

    def burstiness_cv(
        self, key: str, start: datetime | None = None, end: datetime | None = None
    ) -> float:
        if start is None or end is None or not self.cvs:
            return self.cv
        lo, hi = int((start - T0).total_seconds()), int((end - T0).total_seconds())
        held = [c for t, c in self.cvs.items() if t <= lo]
        inside = [c for t, c in self.cvs.items() if lo < t < hi]
        return max([*held[-1:], *inside], default=self.cv)

    def peak_rate(self, key: str, start: datetime, end: datetime) -> float:
        """The rates are a step function: each holds from its time to the next one's."""
        lo, hi = int((start - T0).total_seconds()), int((end - T0).total_seconds())
        held = [r for t, r in self.rates.items() if t <= lo]
        inside = [r for t, r in self.rates.items() if lo < t < hi]
        return max([*held[-1:], *inside], default=0.0)

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


def test_the_oracle_sizes_each_window_for_its_own_burstiness() -> None:
    def util(outlook: _Outlook, at: datetime) -> float:
        p = OraclePlanner(OracleConfig(), PRIORS, outlook).plan(_snap(replicas=1, at=at), {})
        value = next(e.value for e in p[0].evidence if e.name == "utilisation_at_slo")
        assert isinstance(value, float)
        return value

    rates = {0: 38.0, 3600: 38.0}
    per_window = _Outlook(rates, cv=1.5, cvs={0: 0.0, 3600: 3.0})
    run_mean = _Outlook(rates, cv=1.5)
    late = T0 + timedelta(seconds=3600)
    assert util(per_window, T0) == 1.0  # a calm window may run full
    assert util(per_window, late) < util(run_mean, late) < 1.0  # a bursty one may not


def test_the_oracle_pairs_each_steps_rate_with_that_steps_burstiness() -> None:
    # a calm peak, then a bursty trickle: neither step needs what the peak would at the
    # trickle's burstiness
    outlook = _Outlook({0: 38.0, 60: 10.0}, cv=1.5, cvs={0: 0.0, 60: 3.0})
    planner = OraclePlanner(OracleConfig(), PRIORS, outlook)
    assert _replicas(planner.plan(_snap(replicas=1, arrival=10.0), {})) == 4  # raw 3.8


def test_the_forecast_planner_sizes_for_capacity_at_slo_by_default() -> None:
    raw = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    at_slo = ForecastPlanner(ForecastPlannerConfig(), PRIORS)
    snap, fc = _snap(replicas=4, arrival=27.0), _forecast([27.0] * 5)
    assert _replicas(raw.plan(snap, fc)) == 3  # 3 x 10 covers 27 x 1.1 (the band)
    assert _replicas(at_slo.plan(snap, fc)) is None  # 27 req/s with bursts: keep 4


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
    written = write_checkpoint(1, T0, planner, None)
    restored = ForecastPlanner(ForecastPlannerConfig(capacity_at_slo=False), PRIORS)
    restore_planner(restored, load_checkpoint(written), "test")
    assert restored.capacity.estimates == planner.capacity.estimates
    assert len(written) < 20_000
