"""Bad input found by probing: none of it raises, and none of it is forecast silently."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from forecasting import AutoForecaster, AutoForecasterConfig, ForecastInputError
from forecasting.group import GroupSettings, forecast_group
from forecasting.guards import MAX_FALLBACK_STEPS, MAX_MIX_STEPS
from forecasting.series import series_from_points
from gpusteward.app.settings import load_settings
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError, SettingsError
from gpusteward.core.load import LoadSeries

T0 = datetime(2026, 11, 2, tzinfo=UTC)
NO_PROPHET = AutoForecasterConfig(prophet=False)
DAY = 1440  # one-minute steps


def _series(values: list[float | None] | np.ndarray, key: str = "ns/m") -> LoadSeries:
    return LoadSeries(key=key, start=T0, step_seconds=60.0, values=tuple(values))


def _wave(n: int, level: float = 10.0) -> np.ndarray:
    t = np.arange(n)
    return level * (1.0 + 0.3 * np.sin(2 * np.pi * t / DAY))


def test_revised_history_is_forecast_again_not_served_from_the_cache() -> None:
    forecaster = AutoForecaster(NO_PROPHET)
    v = _wave(2 * DAY)
    first = forecaster.forecast(_series(v), 900)
    tenfold = forecaster.forecast(_series(10 * v), 900)  # same key, same end, new data
    fresh = AutoForecaster(NO_PROPHET).forecast(_series(10 * v), 900)
    assert tenfold.points[0].point == pytest.approx(fresh.points[0].point)
    assert tenfold.points[0].point > 5 * first.points[0].point
    # and a revision inside the history, then one more window: refitted too
    revised = 10 * v
    revised[-5] = 0.0
    step = forecaster.forecast(_series(np.r_[revised, revised[-1]]), 900)
    again = AutoForecaster(NO_PROPHET).forecast(_series(np.r_[revised, revised[-1]]), 900)
    assert step.points[0].point == pytest.approx(again.points[0].point)


def test_a_key_given_twice_in_one_call_is_flagged_not_mixed_up() -> None:
    v = _wave(2 * DAY)
    out = AutoForecaster(NO_PROPHET).forecast_many(
        [_series(v, "a"), _series(v, "dup"), _series(10 * v, "dup")], 900
    )
    assert not out[0].fallback
    for f in out[1:]:
        assert f.fallback and any("given 2 times" in n for n in f.notes)
    assert out[2].points[0].point == pytest.approx(10 * v[-1])  # its own last value


@pytest.mark.parametrize("horizon", [math.nan, math.inf, -math.inf, 0.0, -60.0])
def test_a_horizon_that_is_not_a_positive_number_is_flagged(horizon: float) -> None:
    out = AutoForecaster(NO_PROPHET).forecast_many([_series(_wave(DAY))], horizon)
    (f,) = out
    assert f.fallback and len(f.points) == 1
    assert any("not a positive number of seconds" in n for n in f.notes)
    group = forecast_group(_series(_wave(DAY)), [], horizon, GroupSettings(prophet=False))
    assert group.fallback and any("not a positive number" in n for n in group.notes)


def test_a_horizon_too_long_for_the_mix_is_a_flagged_last_value_of_bounded_size() -> None:
    forecaster = AutoForecaster(NO_PROPHET)
    long = forecaster.forecast(_series(_wave(3 * DAY)), 60.0 * (MAX_MIX_STEPS + 1))
    assert long.fallback and len(long.points) == MAX_MIX_STEPS + 1
    assert any("more than the online mix takes" in n for n in long.notes)
    absurd = forecaster.forecast(_series(_wave(3 * DAY)), 1e12)
    assert absurd.fallback and len(absurd.points) == MAX_FALLBACK_STEPS
    assert any("cut to the first" in n for n in absurd.notes)


def test_traffic_that_stopped_for_longer_than_a_hole_is_forecast_as_zero() -> None:
    v = list(_wave(2 * DAY)) + [0.0] * (7 * 60)  # 7 h of nothing after a busy day
    f = AutoForecaster(NO_PROPHET).forecast(_series(v), 900)
    assert f.fallback and all(p.point == 0.0 for p in f.points)
    assert any("taken to have stopped" in n for n in f.notes)
    hole = list(_wave(2 * DAY)) + [0.0] * (3 * 60)  # 3 h: a collection hole, as in m-mid
    kept = AutoForecaster(NO_PROPHET).forecast(_series(hole), 900)
    assert not kept.fallback and kept.points[0].point > 5.0


def test_a_stale_feed_is_flagged_not_forecast_as_if_current() -> None:
    v = list(_wave(2 * DAY)) + [None] * (7 * 60)
    f = AutoForecaster(NO_PROPHET).forecast(_series(v), 900)
    assert f.fallback and any("feed looks stale" in n for n in f.notes)


def test_a_short_history_for_a_long_horizon_is_flagged() -> None:
    f = AutoForecaster(NO_PROPHET).forecast(_series(_wave(5 * 60)), 4 * 3600)
    assert f.fallback and any("under twice the horizon" in n for n in f.notes)


def test_cleaning_notes_reach_the_forecast_on_the_normal_path() -> None:
    v: list[float | None] = list(_wave(2 * DAY))
    v[-30] = math.inf
    v[-20] = None
    forecaster = AutoForecaster(NO_PROPHET)
    f = forecaster.forecast(_series(v), 900)
    assert not f.fallback
    assert any("infinite or negative" in n for n in f.notes)
    assert any("missing point" in n for n in f.notes)
    later = forecaster.forecast(_series([*v, 10.0]), 900)  # one step on, no refit
    assert any("infinite or negative" in n for n in later.notes)


def test_load_series_and_settings_refuse_a_non_finite_step_or_horizon() -> None:
    for step in (math.inf, math.nan, 1e9):
        with pytest.raises(ValidationError):
            LoadSeries(key="k", start=T0, step_seconds=step, values=(1.0,))
    for bad in (math.inf, math.nan, 30 * 86400.0):
        with pytest.raises(SettingsError, match="forecast-horizon-seconds"):
            load_settings(forecast_horizon_seconds=bad)


def test_points_with_a_naive_later_timestamp_or_a_bad_step_are_input_errors() -> None:
    naive = [T0, datetime(2026, 11, 2, 0, 1)]
    with pytest.raises(ForecastInputError, match=r"#1 .* has no time zone"):
        series_from_points("k", naive, [1.0, 2.0], 60.0)
    for step in (math.nan, math.inf, 0.0):
        with pytest.raises(ForecastInputError, match="step_seconds"):
            series_from_points("k", [T0], [1.0], step)


def test_a_child_wholly_before_the_parent_is_named() -> None:
    parent = _series(_wave(DAY))
    early = LoadSeries(key="c", start=T0 - timedelta(days=2), step_seconds=60.0, values=(1.0,) * 60)
    f = forecast_group(parent, [early], 900, GroupSettings(prophet=False))
    assert f.fallback and any("'c'" in n and "before the parent's start" in n for n in f.notes)


def _cli(*args: str) -> tuple[int, str]:
    """Exit code and output as `main()` gives them: an InputError is exit 2, its text."""
    result = CliRunner().invoke(app, ["forecast", "backtest", *args])
    if isinstance(result.exception, InputError):
        return 2, str(result.exception)
    return result.exit_code, result.output


def test_cli_a_binary_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)))
    code, out = _cli("--data", str(path), "--no-prophet")
    assert code == 2 and "not UTF-8 text: byte 0x80 at offset 128" in out


def test_cli_a_missing_window_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    rows = [f"{i * 600},{5 + i % 7},1" for i in range(432) if not 100 <= i < 136]
    path.write_text("window_start_s,total_rate_rps,active_clients\n" + "\n".join(rows) + "\n")
    code, out = _cli("--data", str(path), "--no-prophet")
    assert code == 2
    assert "gap.csv:102" in out  # the header is line 1; window 100 is missing
    assert "windows are 600 s apart" in out


def test_cli_a_sparse_trace_leaves_prophet_out_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "sparse.csv"
    # a reading every 6 h, holes between (a longer run of zeros would be idle time, not holes)
    rates = ["5" if i % 36 == 0 else "0" for i in range(432)]
    rows = [f"{i * 600},{r},1" for i, r in enumerate(rates)]
    path.write_text("window_start_s,total_rate_rps,active_clients\n" + "\n".join(rows) + "\n")
    code, out = _cli("--data", str(path), "--horizon", "1h", "--test", "1d", "--png", "")
    assert code == 0, out
    assert "plot:" not in out and not Path(".png").exists()  # an empty --png: no plot
    assert "Prophet's rows are left out" in out and "got 8 in 48.0 h" in out


def test_a_short_sliding_history_is_advanced_not_refitted_every_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forecaster = AutoForecaster(NO_PROPHET)
    refits = 0
    real = forecaster._refit

    def counting(*args: object, **kw: object) -> object:
        nonlocal refits
        refits += 1
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(forecaster, "_refit", counting)
    v = _wave(2000)
    n = 1200  # a window shorter than the points the cache compares
    for i in range(40):
        start = T0 + timedelta(minutes=i)
        forecaster.forecast(
            LoadSeries(key="k", start=start, step_seconds=60.0, values=tuple(v[i : i + n])), 900
        )
    assert refits == 1


def test_a_group_fallback_for_an_absurd_horizon_is_bounded() -> None:
    f = forecast_group(_series(_wave(DAY)), [], 1e12, GroupSettings(prophet=False))
    assert f.fallback and len(f.points) == MAX_FALLBACK_STEPS
