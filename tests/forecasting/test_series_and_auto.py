"""Bad input never escapes the forecaster; series are cleaned, gaps stay gaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting import AutoForecaster, AutoForecasterConfig, ForecastInputError
from forecasting.series import prepare, series_from_points
from gpusteward.core.load import Forecast, LoadSeries

T0 = datetime(2026, 11, 2, tzinfo=UTC)
NO_PROPHET = AutoForecasterConfig(prophet=False)


def _series(values: list[float | None], step: float = 60.0) -> LoadSeries:
    return LoadSeries(key="ns/m", start=T0, step_seconds=step, values=tuple(values))


def _noisy_level(n: int, level: float = 10.0, seed: int = 0) -> list[float | None]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.poisson(level * 60, n) / 60.0]


def test_out_of_order_timestamps_are_rejected_naming_the_point() -> None:
    times = [T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    with pytest.raises(ForecastInputError, match=r"#2 .* is not after #1"):
        series_from_points("k", times, [1.0, 2.0, 3.0], 60.0)


def test_empty_points_are_rejected_with_the_fix() -> None:
    with pytest.raises(ForecastInputError, match="no data points"):
        series_from_points("k", [], [], 60.0)


def test_missing_steps_become_gaps_not_zeros() -> None:
    times = [T0, T0 + timedelta(minutes=3)]
    series = series_from_points("k", times, [1.0, 2.0], 60.0)
    assert series.values == (1.0, None, None, 2.0)


def test_nan_inf_and_negative_rates_are_missing_and_noted() -> None:
    prepared = prepare(_series([1.0, float("nan"), float("inf"), -2.0, 3.0]))
    assert np.isnan(prepared.values[1:4]).all()
    assert prepared.values[4] == 3.0
    assert any("missing" in n for n in prepared.notes)


def test_zero_windows_of_a_busy_series_are_holes_but_of_a_quiet_one_are_load() -> None:
    busy = prepare(_series([10.0, 0.0, 12.0]))  # 10 req/s x 60 s: an empty window is a hole
    quiet = prepare(_series([0.05, 0.0, 0.02]))  # 3 requests a minute: zero is plausible
    assert math.isnan(busy.values[1])
    assert quiet.values[1] == 0.0


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([], "without a valid value"),
        ([0.0] * 500, "all zero"),
        ([None] * 500, "the feed looks stale"),
        ([None] * 50, "without a valid value"),
        ([5.0, 6.0], "too short"),
        ([100.0 + i for i in range(12)], "too short"),  # 2 h of traffic: short, not zero
    ],
)
def test_degenerate_history_gives_a_flagged_last_value(
    values: list[float | None], why: str
) -> None:
    f = AutoForecaster(NO_PROPHET).forecast(_series(values), 600)
    assert f.fallback and f.forecaster == "last-value"
    assert any(why in n for n in f.notes)
    assert len(f.points) == 10


def test_a_long_noisy_series_gets_a_chosen_method_and_an_ordered_band() -> None:
    f = AutoForecaster(NO_PROPHET).forecast(_series(_noisy_level(2000)), 900)
    assert not f.fallback and f.forecaster.startswith("auto/")
    assert all(p.p10 <= p.p50 <= p.p90 for p in f.points)
    assert any(p.p90 > p.p10 for p in f.points)  # residuals give a real band
    assert all(5 < p.point < 15 for p in f.points)


def test_refit_is_scheduled_not_done_every_call() -> None:
    forecaster = AutoForecaster(AutoForecasterConfig(prophet=False, refit_seconds=6 * 3600))
    values = _noisy_level(2000)
    forecaster.forecast(_series(values[:1990]), 900)
    first = forecaster._fits["ns/m"]
    forecaster.forecast(_series(values[:1995]), 900)
    assert forecaster._fits["ns/m"] is first  # 5 minutes later: same fit
    forecaster.forecast(_series(values), 900)
    later = _series(values + _noisy_level(400, seed=1))
    forecaster.forecast(later, 900)
    assert forecaster._fits["ns/m"] is not first  # past the 6 h schedule: refitted


rates = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(min_value=0, max_value=1e4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(rates, max_size=400))
def test_no_input_makes_the_forecaster_raise_or_emit_invalid_points(
    values: list[float | None],
) -> None:
    f = AutoForecaster(NO_PROPHET).forecast(_series(values), 300)
    Forecast.model_validate(f.model_dump())  # every point valid: finite, >= 0, ordered
    assert all(math.isfinite(p.p90) for p in f.points)
