"""The online mix and the online band learn only from realised targets, and do what
they are for: the mix tracks the better candidate, the band recovers its coverage."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.methods import LastValue, RecentMean, SeasonalNaive
from forecasting.online import Mix, OnlineSettings, calibrate, run_online

DAILY = 144


def _coverage(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, origins: np.ndarray) -> float:
    idx = origins[:, None] + np.arange(lo.shape[1])[None, :]
    actual = y[idx]
    return float(np.mean((actual >= lo) & (actual <= hi)))


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=30, max_value=170), st.integers(min_value=0, max_value=2**31))
def test_nothing_at_or_after_an_origin_changes_its_mix_or_band(cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.uniform(10, 100, 200)
    changed = y.copy()
    changed[cut:] = rng.uniform(500, 900, 200 - cut)
    origins = np.arange(5, 190)
    methods = (LastValue(), RecentMean(4))
    runs = []
    for series in (y, changed):
        paths = np.stack([m.paths(series, origins, 6) for m in methods])
        runs.append(run_online(paths, series, origins, 20, OnlineSettings(feedback_leads=3)))
    upto = origins <= cut
    for field in ("point", "p10", "p50", "p90"):
        assert np.allclose(getattr(runs[0], field)[upto], getattr(runs[1], field)[upto]), field


def test_mix_moves_its_weight_to_the_candidate_that_is_right() -> None:
    mix = Mix(2, 1, OnlineSettings(half_life_steps=10))
    for o in range(60):
        actual = 100.0
        mix.advance(o, np.array([[100.0], [130.0]]), actual)
    assert mix.last_weights[0, 0] > 0.9


def test_mix_is_no_worse_than_the_best_candidate_when_the_best_one_changes() -> None:
    # a daily pattern for 4 days, then a random walk: seasonal naive wins, then last value
    rng = np.random.default_rng(2)
    t = np.arange(8 * DAILY)
    seasonal = 100 + 40 * np.sin(2 * np.pi * t / DAILY)
    walk = 100 + np.cumsum(rng.normal(0, 3, len(t)))
    y = np.where(t < 4 * DAILY, seasonal, walk - walk[4 * DAILY] + seasonal[4 * DAILY])
    origins = np.arange(DAILY, len(y) - 6)
    methods = (LastValue(), SeasonalNaive(DAILY))
    paths = np.stack([m.paths(y, origins, 6) for m in methods])
    run = run_online(paths, y, origins, 2 * DAILY, OnlineSettings(half_life_steps=36))
    actual = y[origins[:, None] + np.arange(6)[None, :]]
    mix_mae = np.abs(run.point - actual).mean()
    best_mae = min(np.abs(p - actual).mean() for p in paths)
    assert mix_mae < 0.9 * best_mae  # switching beats sticking with either candidate


def test_the_band_recovers_its_coverage_after_the_noise_triples() -> None:
    rng = np.random.default_rng(4)
    n, train = 10 * DAILY, 4 * DAILY
    noise = np.where(np.arange(n) < train, 0.05, 0.15)
    y = 100 * np.exp(rng.normal(0, 1, n) * noise)
    origins = np.arange(1, n - 6)
    point = LastValue().paths(y, origins, 6)
    test = origins >= train + DAILY  # a day to adapt
    fixed = calibrate(point, y, origins, train, OnlineSettings(gamma=0.0))
    online = calibrate(point, y, origins, train, OnlineSettings(feedback_leads=3))
    assert _coverage(fixed[0][test], fixed[2][test], y, origins[test]) < 0.6
    assert 0.72 <= _coverage(online[0][test], online[2][test], y, origins[test]) <= 0.88


def test_a_level_shift_seen_at_short_leads_widens_the_long_leads() -> None:
    rng = np.random.default_rng(5)
    n, shift = 6 * DAILY, 3 * DAILY
    y = 100 * np.exp(rng.normal(0, 0.03, n))
    y[shift:] *= np.exp(np.cumsum(rng.normal(0, 0.05, n - shift)))  # a wandering level
    origins = np.arange(1, n - DAILY)
    point = LastValue().paths(y, origins, DAILY)
    before = origins == shift - 1
    later = origins == shift + 24  # 4 h after the change began: day-ahead leads unrealised
    widths = []
    for gamma in (0.0, 0.05):
        band = calibrate(point, y, origins, shift, OnlineSettings(gamma=gamma, feedback_leads=6))
        width = np.log(band[2][:, -1] / band[0][:, -1])
        widths.append(width[later][0] / width[before][0])
    assert abs(widths[0] - 1.0) < 0.02  # a fixed band does not move
    assert widths[1] > 1.4
