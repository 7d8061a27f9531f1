"""The error-budget controller chained from the quantile to the margin over the live load."""

from __future__ import annotations

from datetime import timedelta

from pytest import approx

from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from tests.agents.test_scaling_planners import KEY, PRIORS, T0, _forecast, _snap


def _controller(**settings: object) -> ForecastPlanner:
    cfg = ForecastPlannerConfig(
        capacity_at_slo=False,
        volatility_scaled=False,
        feedback_gain=0.05,
        chained_margin_gain=0.05,
        **settings,  # type: ignore[arg-type]
    )
    return ForecastPlanner(cfg, PRIORS)


def _tick(planner: ForecastPlanner, minute: int, attainment: float) -> tuple[float, float]:
    """(quantile in use, margin) after a tick with this share of requests within the SLO."""
    at = T0 + timedelta(minutes=minute)
    planner.plan(
        _snap(replicas=2, arrival=12.0, at=at, attainment=attainment), _forecast([12.0] * 5, at)
    )
    mem = planner._memory[KEY]
    return planner._level(next(iter(_snap().deployments)), mem), mem.margin


def test_misses_past_the_quantile_top_grow_the_margin_and_spare_budget_takes_it_back_first() -> (
    None
):
    planner = _controller(margin_above_quantile=0.95)
    path = [_tick(planner, i, 0.5) for i in range(40)]  # half the requests miss, every tick
    quantiles = [q for q, _ in path]
    margins = [m for _, m in path]
    top = next(i for i, q in enumerate(quantiles) if q == approx(0.95))  # it climbs to the top
    assert all(q == approx(0.95) for q in quantiles[top:]) and all(
        m == 0 for m in margins[: top + 1]
    )
    assert 0 < margins[top + 1] < margins[top + 5] < margins[-1] <= 0.5  # then the margin grows

    back = [_tick(planner, i, 1.0) for i in range(40, 4000)]  # the budget to spare
    released = next(i for i, (_, m) in enumerate(back) if m == 0)
    assert all(q == approx(0.95) for q, _ in back[: released + 1])  # the margin goes first
    assert back[-1][0] < 0.94 and back[-1][1] == 0  # only then the quantile comes down


def test_without_the_chain_the_quantile_climbs_to_its_max_and_no_margin_starts() -> None:
    planner = _controller(margin_above_quantile=None)
    path = [_tick(planner, i, 0.5) for i in range(80)]
    assert path[-1] == (approx(0.99), 0.0)


def test_the_chain_never_caps_a_quantile_the_config_names_above_its_start() -> None:
    planner = _controller(margin_above_quantile=0.95, quantile=0.97)
    assert _tick(planner, 0, 1.0)[0] <= 0.97
    path = [_tick(planner, i, 0.5) for i in range(1, 20)]
    assert all(q == approx(0.97) for q, _ in path) and path[-1][1] > 0  # misses go to the margin
