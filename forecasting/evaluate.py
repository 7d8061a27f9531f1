"""One series' rolling-origin backtest: every forecaster and the backtest-chosen one.

Train on `y[:train]`, test on the rest: each origin in the test period forecasts the
next `steps` points, scored over the whole path. Bands come from residuals on every
origin after the first day of training; the choice is made on the last two days of
training only, so the chosen forecaster's test score is an honest out-of-sample figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from forecasting.backtest import (
    Scores,
    choose,
    fit_band,
    origins_between,
    score,
    seasonal_scale,
)
from forecasting.methods import PointMethod, ProphetPlain, baseline_methods, prophet_methods
from forecasting.series import mark_holes

DAY = 86_400.0


@dataclass(frozen=True)
class SeriesReport:
    key: str
    steps: int
    scores: tuple[Scores, ...]  # every forecaster, on the test period
    chosen: Scores  # the backtest-chosen forecaster, on the test period
    prophet_based: tuple[str, ...]
    baselines: tuple[str, ...]
    fit_seconds: float  # Prophet fit (0 when not used)
    predict_seconds: float  # every forecaster's test paths and bands
    notes: tuple[str, ...]

    def by_name(self, name: str) -> Scores:
        return next(s for s in self.scores if s.method == name)

    def best_baseline(self) -> Scores:
        return min((s for s in self.scores if s.method in self.baselines), key=lambda s: s.mase)


@dataclass(frozen=True)
class TestPaths:
    """For plots: per test origin, the chosen forecaster's value and band at lead `steps`."""

    origins: np.ndarray
    point: np.ndarray
    p10: np.ndarray
    p90: np.ndarray


def evaluate_series(
    key: str,
    values: np.ndarray,
    start: datetime,
    step_seconds: float,
    train: int,
    steps: int,
    *,
    prophet: bool = True,
) -> tuple[SeriesReport, TestPaths]:
    """Backtest every forecaster on one series; raises ValueError for unusable input."""
    if train < 2 or train >= len(values):
        raise ValueError(
            f"{key}: train={train} of {len(values)} points; expected 2 <= train < length"
        )
    clean = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
    y, holes = mark_holes(clean.astype(np.float64), step_seconds)
    notes = (f"{holes} zero window(s) treated as holes",) if holes else ()
    per_day = max(1, round(DAY / step_seconds))
    scale = seasonal_scale(y[:train], per_day)
    selectable: list[PointMethod] = list(baseline_methods(step_seconds))
    baselines = tuple(m.name for m in selectable)
    reference: list[PointMethod] = []
    fit_seconds = 0.0
    if prophet and train * step_seconds >= 2 * DAY:
        from forecasting.prophet_model import fit_profile

        t0 = time.perf_counter()
        profile = fit_profile(y[:train], start, step_seconds, len(y) - train + steps)
        fit_seconds = time.perf_counter() - t0
        selectable += prophet_methods(profile, step_seconds)
        reference.append(ProphetPlain(profile))
    t0 = time.perf_counter()
    calibration = origins_between(per_day, train, steps)
    test = origins_between(train, len(y), steps)
    scores = []
    for m in selectable + reference:
        band = fit_band(m, y[:train], calibration, steps)
        scores.append(score(m, y, test, steps, scale, band))
    choice = choose(selectable, y[:train], steps, 2 * per_day, scale)
    band = fit_band(choice.method, y[:train], calibration, steps)
    chosen = score(choice.method, y, test, steps, scale, band)
    point = choice.method.paths(y, test, steps)
    lo, _, hi = band.apply(point)
    paths = TestPaths(test, point[:, -1], lo[:, -1], hi[:, -1])
    predict_seconds = time.perf_counter() - t0
    named = Scores(
        method=f"chosen: {choice.name}",
        mase=chosen.mase,
        smape=chosen.smape,
        pinball=chosen.pinball,
        coverage=chosen.coverage,
        targets=chosen.targets,
    )
    prophet_names = tuple(m.name for m in selectable + reference if m.name not in baselines)
    report = SeriesReport(
        key,
        steps,
        tuple(scores),
        named,
        prophet_names,
        baselines,
        fit_seconds,
        predict_seconds,
        notes,
    )
    return report, paths
