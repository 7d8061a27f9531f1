"""Forecast methods see only the past; backtest metrics and the choice behave as defined."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.backtest import choose, fit_band, origins_between, score, seasonal_scale
from forecasting.methods import (
    AnchoredSeasonal,
    ExponentialSmoother,
    LastValue,
    RecentMean,
    SeasonalNaive,
    SeasonalProfile,
    baseline_methods,
)

DAILY = 144  # 10-minute windows per day


def _periodic(days: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(days * DAILY)
    rng = np.random.default_rng(seed)
    return 100 + 40 * np.sin(2 * np.pi * t / DAILY) + noise * rng.standard_normal(len(t))


def _methods() -> list:  # type: ignore[type-arg]
    profile = SeasonalProfile(0, np.sin(np.arange(4000) / 20), np.zeros(4000))
    return [*baseline_methods(600), AnchoredSeasonal(profile, 3)]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=399), st.integers(min_value=0, max_value=2**31))
def test_no_method_looks_at_values_at_or_after_its_origin(origin: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 100, 400)
    changed = y.copy()
    changed[origin:] = rng.uniform(500, 900, 400 - origin)
    for m in _methods():
        a = m.paths(y, np.array([origin]), 12)
        b = m.paths(changed, np.array([origin]), 12)
        assert np.allclose(a, b), m.name


def test_seasonal_naive_repeats_the_value_one_period_earlier() -> None:
    y = np.arange(20, dtype=float)
    path = SeasonalNaive(5).paths(y, np.array([12]), 7)[0]
    assert list(path) == [7, 8, 9, 10, 11, 7, 8]


def test_gaps_are_skipped_by_last_value_and_recent_mean() -> None:
    y = np.array([4.0, 6.0, np.nan, np.nan])
    assert LastValue().paths(y, np.array([4]), 1)[0, 0] == 6.0
    assert RecentMean(4).paths(y, np.array([4]), 1)[0, 0] == 5.0


def test_exponential_smoother_converges_to_a_constant_level() -> None:
    y = np.full(200, 7.0)
    assert np.allclose(ExponentialSmoother(3).paths(y, np.array([200]), 2), 7.0)


def test_mase_is_zero_for_a_perfect_forecast_and_one_for_the_scaling_method() -> None:
    y = _periodic(6, noise=5.0)
    train = 4 * DAILY
    scale = seasonal_scale(y[:train], DAILY)
    perfect = score(SeasonalNaive(DAILY), _periodic(6), origins_between(train, len(y), 1), 1, 1)
    assert perfect.mase < 1e-9
    insample = score(SeasonalNaive(DAILY), y[:train], origins_between(DAILY, train, 1), 1, scale)
    assert abs(insample.mase - 1.0) < 1e-9


def test_the_band_covers_about_80_percent_of_a_stationary_series() -> None:
    y = _periodic(10, noise=8.0, seed=3)
    train, steps = 7 * DAILY, 6
    band = fit_band(LastValue(), y[:train], origins_between(1, train, steps), steps)
    s = score(LastValue(), y, origins_between(train, len(y), steps), steps, 1.0, band)
    assert 0.7 <= s.coverage <= 0.9


def test_choice_prefers_seasonal_naive_on_a_clean_daily_pattern() -> None:
    y = _periodic(5, noise=1.0)
    choice = choose(baseline_methods(600), y, 36, 2 * DAILY, seasonal_scale(y, DAILY))
    assert choice.name == "seasonal-naive-day"


def test_choice_prefers_last_value_on_a_random_walk() -> None:
    rng = np.random.default_rng(1)
    y = 1000 + np.cumsum(rng.standard_normal(5 * DAILY) * 10)
    choice = choose(baseline_methods(600), y, 1, 2 * DAILY, seasonal_scale(y, DAILY))
    assert choice.name in ("last-value", "exp-smoother-30m")


def test_prophet_profile_recovers_the_daily_shape_and_anchoring_beats_last_value() -> None:
    from forecasting.prophet_model import fit_profile

    y = _periodic(4, noise=3.0)
    train = 3 * DAILY
    profile = fit_profile(y[:train], datetime(2026, 1, 5, tzinfo=UTC), 600, DAILY)
    expected = np.sin(2 * np.pi * np.arange(train) / DAILY)
    assert np.corrcoef(profile.seasonal[:train], expected)[0, 1] > 0.95
    origins = origins_between(train, len(y), DAILY // 2, stride=6)
    anchored = score(AnchoredSeasonal(profile, 1), y, origins, DAILY // 2, 1.0)
    last = score(LastValue(), y, origins, DAILY // 2, 1.0)
    assert anchored.mase < 0.5 * last.mase
