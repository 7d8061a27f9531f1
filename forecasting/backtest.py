"""Rolling-origin backtests: error metrics, residual bands, and choosing a method per series.

MASE is scaled by the in-sample MAE of the daily seasonal-naive forecast (MASE < 1:
better than repeating yesterday, on average over the training data). Bands come from
the empirical quantiles of log1p residuals of the same method at the same lead time,
on origins that lie wholly inside the training data. Missing targets are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.methods import PointMethod

QUANTILES = (0.1, 0.5, 0.9)


def nan_quantiles(resid: np.ndarray) -> np.ndarray:
    """(leads, 3) p10 / p50 / p90 of each column of `resid` (origins, leads) over its
    finite values; 0 for a lead with none. No warnings to silence: `warnings.
    catch_warnings` is not thread-safe, and forecasts run on threads."""
    q = np.zeros((resid.shape[1], len(QUANTILES)))
    some = np.isfinite(resid).any(axis=0)
    if some.any():
        q[some] = np.nanquantile(resid[:, some], QUANTILES, axis=0).T
    return q


@dataclass(frozen=True)
class Band:
    """Log1p residual quantiles per lead step: shape (steps, 3) for p10 / p50 / p90."""

    q: np.ndarray

    def apply(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """p10, p50, p90 around point paths (..., steps)."""
        base = np.log1p(np.maximum(point, 0.0))
        lo, mid, hi = (np.maximum(np.expm1(base + self.q[:, j]), 0.0) for j in range(3))
        return lo, mid, hi


@dataclass(frozen=True)
class Scores:
    method: str
    mase: float
    smape: float
    pinball: float  # mean of the p10 / p50 / p90 pinball losses, in MASE units
    coverage: float  # share of targets inside [p10, p90]
    targets: int


SCALE_FLOOR = 1e-9  # MASE's denominator never goes below this


def origins_between(first: int, last_target_end: int, steps: int, stride: int = 1) -> np.ndarray:
    """Origins o >= first (and >= 1) whose targets o .. o + steps - 1 end by `last_target_end`."""
    return np.arange(max(first, 1), last_target_end - steps + 1, max(1, stride))


def targets(y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
    idx = origins[:, None] + np.arange(steps)[None, :]
    return y[np.clip(idx, 0, len(y) - 1)]


def seasonal_scale(y_train: np.ndarray, period: int) -> float:
    """In-sample MAE of the seasonal-naive forecast (MASE's denominator); >= a tiny floor."""
    if len(y_train) > period:
        diff = np.abs(y_train[period:] - y_train[:-period])
    else:
        diff = np.abs(np.diff(y_train))
    diff = diff[~np.isnan(diff)]
    scale = float(diff.mean()) if len(diff) else 0.0
    return max(scale, SCALE_FLOOR)


def fit_band(method: PointMethod, y: np.ndarray, origins: np.ndarray, steps: int) -> Band:
    """Residual quantiles per lead step from backtest paths on `origins` (all in the past)."""
    if len(origins) == 0:
        return Band(np.zeros((steps, 3)))
    point = method.paths(y, origins, steps)
    actual = targets(y, origins, steps)
    resid = np.log1p(np.maximum(actual, 0.0)) - np.log1p(np.maximum(point, 0.0))
    q = nan_quantiles(resid)  # a lead step with no target: 0
    q.sort(axis=1)
    return Band(q)


def score(
    method: PointMethod,
    y: np.ndarray,
    origins: np.ndarray,
    steps: int,
    scale: float,
    band: Band | None = None,
) -> Scores:
    """Errors of `method` over the whole path of every origin (missing targets skipped)."""
    point = method.paths(y, origins, steps)
    bands = band.apply(point) if band is not None else None
    return score_paths(method.name, point, targets(y, origins, steps), scale, bands)


def score_paths(
    name: str,
    point: np.ndarray,
    actual: np.ndarray,
    scale: float,
    bands: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Scores:
    """Scores of forecast paths against `actual` (same shape; NaN targets skipped)."""
    ok = ~np.isnan(actual)
    err = np.abs(actual - point)[ok]
    denom = (np.abs(actual) + np.abs(point))[ok]
    smape = float(np.mean(np.where(denom > 0, 2 * err / np.where(denom > 0, denom, 1), 0.0)))
    pinball = coverage = float("nan")
    if bands is not None:
        lo, _, hi = bands
        losses = [_pinball(actual[ok], q[ok], tau) for q, tau in zip(bands, QUANTILES, strict=True)]
        pinball = float(np.mean(losses)) / scale
        coverage = float(np.mean((actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok])))
    return Scores(
        method=name,
        mase=float(err.mean()) / scale if len(err) else float("nan"),
        smape=smape,
        pinball=pinball,
        coverage=coverage,
        targets=int(ok.sum()),
    )


def _pinball(actual: np.ndarray, q: np.ndarray, tau: float) -> float:
    diff = actual - q
    return float(np.mean(np.maximum(tau * diff, (tau - 1) * diff)))


@dataclass(frozen=True)
class Choice:
    method: PointMethod
    band: Band
    validation: tuple[Scores, ...]  # every candidate on the validation origins

    @property
    def name(self) -> str:
        return self.method.name


def choose(
    candidates: list[PointMethod],
    y: np.ndarray,
    steps: int,
    validation_steps: int,
    scale: float,
    stride: int = 1,
) -> Choice:
    """The candidate with the lowest MASE over the last `validation_steps` of `y`.

    Every origin and target lies inside `y` (the training data). Ties keep list order,
    so put the simplest candidate first. The band is fitted on the same origins.
    """
    end = len(y)
    origins = origins_between(end - validation_steps - steps + 1, end, steps, stride)
    if len(origins) == 0:
        origins = origins_between(1, end, min(steps, max(1, end - 1)), stride)
    results = [score(m, y, origins, steps, scale) for m in candidates]
    best = min(
        range(len(candidates)),
        key=lambda i: results[i].mase if np.isfinite(results[i].mase) else np.inf,
    )
    method = candidates[best]
    return Choice(method, fit_band(method, y, origins, steps), tuple(results))
