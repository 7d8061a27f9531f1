"""The forecast planner's hysteresis band and the replicas it starts to drain a queue;
the online mix's short-mean candidate."""

from __future__ import annotations

from datetime import timedelta

from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from forecasting.methods import RecentMean, mix_candidates
from gpusteward.core.cluster import ServingMetrics
from gpusteward.testing import make_deployment, make_snapshot
from tests.agents.test_scaling_planners import KEY, PRIORS, T0, _forecast, _replicas, _snap


def _drain_run(drain_release: bool) -> list[int | None]:
    """Load steady at 20 req/s (2 replicas of 10), a queue of 1,800 for two ticks, then
    drained; the replica count the planner asks for at each tick."""
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, floor_headroom=0.0, drain_release=drain_release
    )
    planner = ForecastPlanner(cfg, PRIORS)
    replicas, asked = 2, []
    for i, queue in enumerate([0, 0, 1800, 1800, 0, 0, 0]):
        at = T0 + timedelta(minutes=i)
        want = _replicas(planner.plan(_snap(replicas, 19.0, queue, at), _forecast([19.0] * 5, at)))
        asked.append(want)
        replicas = want or replicas
    return asked


def test_replicas_started_for_a_queue_go_at_once_when_it_has_drained() -> None:
    # 19 + 1800/60 = 49 req/s: 5 replicas, then back to 2 the tick the queue is gone.
    assert _drain_run(drain_release=True) == [None, None, 5, None, 2, None, None]


def test_without_the_drain_release_they_are_held_through_the_dwell() -> None:
    assert _drain_run(drain_release=False) == [None, None, 5, None, None, None, None]


def test_after_a_drained_queue_the_target_and_the_count_before_it_stay() -> None:
    cfg = ForecastPlannerConfig(capacity_at_slo=False, floor_headroom=0.0)
    planner = ForecastPlanner(cfg, PRIORS)
    planner.plan(_snap(2, 19.0, 1800, T0), _forecast([19.0] * 5, T0))  # 2 -> 5
    at = T0 + timedelta(minutes=1)
    # The queue drained because the load really rose to 38 req/s: its 4 replicas stay.
    out = planner.plan(_snap(5, 38.0, 0, at), _forecast([38.0] * 5, at))
    assert _replicas(out) == 4
    assert "queue has drained" in out[0].reason
    at = T0 + timedelta(minutes=2)
    planner.plan(_snap(4, 38.0, 1800, at), _forecast([38.0] * 5, at))  # another: 4 -> 7
    at = T0 + timedelta(minutes=3)
    # The load fell back at once: the count before this queue stays (the band and the
    # dwell then decide about it, as for any dip in load).
    assert _replicas(planner.plan(_snap(7, 19.0, 0, at), _forecast([19.0] * 5, at))) == 4


def test_minute_windows_get_a_five_minute_mean_candidate_and_ten_minute_ones_do_not() -> None:
    minute = [m for m in mix_candidates(None, 60) if m.name == "last-5-min-mean"]
    assert minute == [RecentMean(5, name="last-5-min-mean")]
    assert not [m for m in mix_candidates(None, 600) if m.name == "last-5-min-mean"]


def _down_from_8(load: float, demand_hysteresis: float | None) -> int | None:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False, floor_headroom=0.0, demand_hysteresis=demand_hysteresis
    )
    planner = ForecastPlanner(cfg, PRIORS)
    d = make_deployment(replicas=8, max_replicas=16, cold_start_seconds=120.0)
    m = ServingMetrics(
        arrival_rate_rps=load, served_rate_rps=load, queue_depth=0, capacity_rps=80.0
    )
    snap = make_snapshot(at=T0, deployments=[d], metrics={KEY: m})
    return _replicas(planner.plan(snap, _forecast([load] * 5)))


def test_the_band_is_a_share_of_the_demand_not_a_whole_replica() -> None:
    # 62 req/s needs 7 replicas of 10. A band of 20 % of 8 replicas holds the 8th whatever
    # the load; a band of 10 % of the demand (68.2 req/s: 7 replicas) lets it go.
    assert _down_from_8(62.0, demand_hysteresis=None) is None
    assert _down_from_8(62.0, demand_hysteresis=0.1) == 7
    # 66 req/s: 72.6 with the band needs all 8, so they stay.
    assert _down_from_8(66.0, demand_hysteresis=0.1) is None
