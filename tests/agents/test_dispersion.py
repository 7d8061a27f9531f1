"""Burstiness estimators: the variogram reads on/off and stepped traffic right, where the
median of pairs under-reads; both read steady gamma-mixed Poisson counts right."""

from __future__ import annotations

import numpy as np
import pytest

from agents.capacity import CapacityModel
from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from agents.slo_capacity import (
    DispersionEstimator,
    VariogramDispersionEstimator,
    dispersion_estimator,
)


def _counts(means: np.ndarray, cv: float, seed: int) -> np.ndarray:
    """Gamma-mixed Poisson counts with mean `means[t]` and variance / mean = cv^2 (> 1)."""
    rng = np.random.default_rng(seed)
    extra = cv * cv - 1.0
    out: np.ndarray = rng.poisson(rng.gamma(np.maximum(means, 1e-12) / extra, extra))
    return np.where(means > 0, out, 0).astype(float)


def _learn(counts: np.ndarray, *, window: int) -> tuple[float, float]:
    pairs = DispersionEstimator(window=window)
    variogram = VariogramDispersionEstimator(window=window)
    for x in counts:
        pairs.observe("m", float(x))
        variogram.observe("m", float(x))
    return pairs.cv("m"), variogram.cv("m")


@pytest.mark.parametrize(("cv", "mean"), [(1.5, 480.0), (3.0, 60.0), (2.0, 5_000.0)])
def test_both_read_steady_gamma_mixed_poisson_counts(cv: float, mean: float) -> None:
    counts = _counts(np.full(3000, mean), cv, seed=3)
    pairs, variogram = _learn(counts, window=3000)
    assert pairs == pytest.approx(cv, rel=0.1)
    assert variogram == pytest.approx(cv, rel=0.1)


def test_the_variogram_reads_rare_large_bursts_that_the_pairs_median_misses() -> None:
    """Counts of mean 900 a tick with cv 100 (gamma shape 0.09: about 44 % of the ticks
    are empty, a few hold tens of thousands), as the zoo's batch clients: the pairs'
    median skips the empty ticks and reads the typical pair, well under the truth; the
    variogram counts every tick."""
    counts = _counts(np.full(20_000, 900.0), 100.0, seed=5)
    assert 0.35 < np.mean(counts == 0) < 0.5
    pairs, variogram = _learn(counts, window=20_000)
    assert pairs < 0.5 * 100.0
    assert variogram == pytest.approx(100.0, rel=0.1)


def test_an_on_off_client_is_read_as_its_bursts_not_its_switching() -> None:
    """Ten ticks on at 300 a tick (cv 4), ten off, over and over: the switching is a
    level the forecast follows, not burstiness, and the nugget cancels it (the mean
    squared difference of consecutive ticks alone reads cv 6 here)."""
    means = np.tile(np.r_[np.full(10, 300.0), np.zeros(10)], 300)
    counts = _counts(means, 4.0, seed=7)
    _, variogram = _learn(counts, window=6000)
    assert variogram == pytest.approx(4.0, rel=0.15)
    d = np.diff(counts)
    assert np.sqrt((d * d).sum() / (counts[1:] + counts[:-1]).sum()) > 5.0


def test_steps_of_the_rate_between_windows_are_not_read_as_burstiness() -> None:
    """The rate steps every 10 ticks to a level from 100 to 10,000 a tick (log-uniform):
    the steps are as large as the counts' own noise many times over."""
    rng = np.random.default_rng(11)
    levels = np.exp(rng.uniform(np.log(100.0), np.log(10_000.0), 400))
    counts = _counts(np.repeat(levels, 10), 2.0, seed=13)
    pairs, variogram = _learn(counts, window=4000)
    assert variogram == pytest.approx(2.0, rel=0.15)
    assert pairs == pytest.approx(2.0, rel=0.15)


def test_a_nugget_below_zero_falls_back_to_the_pairs_reading() -> None:
    """A steady ramp (no noise at all) makes 2 x lag-1 - lag-2 negative: the answer is
    the median of pairs, not a cv of 0 (which would size for no burst at all)."""
    est = VariogramDispersionEstimator(min_samples=30)
    for t in range(100):
        est.observe("m", 100.0 + 50.0 * t)
    assert est.nugget_cv("m") == 0.0
    assert est.cv("m") == est.pairs.cv("m") > 0.0


def test_the_prior_stands_until_enough_ticks_and_while_nothing_arrives() -> None:
    est = VariogramDispersionEstimator(prior_cv=1.7, min_samples=30)
    for _ in range(100):
        est.observe("idle", 0.0)
    for x in range(20):
        est.observe("new", float(x % 3))
    assert est.cv("idle") == 1.7
    assert est.cv("new") == 1.7


def test_only_the_last_window_counts() -> None:
    """A bursty hour long gone does not hold the reading up."""
    counts = np.r_[
        _counts(np.full(500, 600.0), 20.0, seed=17), _counts(np.full(500, 600.0), 1.5, seed=19)
    ]
    _, variogram = _learn(counts, window=360)
    assert variogram == pytest.approx(1.5, rel=0.15)


def test_its_state_round_trips_through_a_capacity_models_checkpoint() -> None:
    counts = _counts(np.full(400, 200.0), 3.0, seed=23)
    model = CapacityModel(at_slo=True, dispersion=VariogramDispersionEstimator())
    for x in counts:
        model.dispersion.observe("m", float(x))
    again = CapacityModel(at_slo=True, dispersion=VariogramDispersionEstimator())
    again.restore(model.state())
    assert again.cv("m") == model.cv("m") != 1.5
    again.dispersion.observe("m", 250.0)
    model.dispersion.observe("m", 250.0)
    assert again.cv("m") == model.cv("m")


def test_the_forecast_planner_uses_the_estimator_its_config_names() -> None:
    default = ForecastPlanner()
    chosen = ForecastPlanner(ForecastPlannerConfig(dispersion_estimator="variogram"))
    assert type(default.capacity.dispersion) is DispersionEstimator
    assert type(chosen.capacity.dispersion) is VariogramDispersionEstimator
    with pytest.raises(ValueError, match="median-pairs or variogram"):
        dispersion_estimator("moments")
