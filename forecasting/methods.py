"""Point-forecast methods on arrays, vectorised over many forecast origins at once.

A method maps a rate array `y` (NaN = missing) and origins `o` to paths: row i holds
the forecast of `y[o_i], y[o_i + 1], ...` made from `y[:o_i]` only. The same code serves
rolling backtests (thousands of origins) and the live forecaster (one origin).
Pure numpy: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


def ffill(y: np.ndarray) -> np.ndarray:
    """Forward-fill NaN with the last observed value; leading NaN take the first observed."""
    n = len(y)
    if n == 0:
        return y.astype(np.float64)
    mask = ~np.isnan(y)
    if not mask.any():
        return np.zeros(n)
    idx = np.where(mask, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    out = y[idx]
    first = int(np.argmax(mask))
    out[:first] = y[first]
    return out


class PointMethod(Protocol):
    """A point forecaster over arrays; `lookback(steps)` = how much history one origin needs."""

    @property
    def name(self) -> str: ...

    def lookback(self, steps: int) -> int: ...

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray: ...


@dataclass(frozen=True)
class LastValue:
    name: str = "last-value"

    def lookback(self, steps: int) -> int:
        return 1

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        last = ffill(y)[origins - 1]
        return np.repeat(last[:, None], steps, axis=1)


@dataclass(frozen=True)
class RecentMean:
    """Mean of the observed values in the last `window` steps (last value if none)."""

    window: int
    name: str = "recent-mean"

    def lookback(self, steps: int) -> int:
        return self.window

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        obs = ~np.isnan(y)
        csum = np.concatenate(([0.0], np.cumsum(np.where(obs, y, 0.0))))
        ccount = np.concatenate(([0], np.cumsum(obs)))
        lo = np.maximum(origins - self.window, 0)
        total, count = csum[origins] - csum[lo], ccount[origins] - ccount[lo]
        last = ffill(y)[origins - 1]
        mean = np.where(count > 0, total / np.maximum(count, 1), last)
        return np.repeat(mean[:, None], steps, axis=1)


@dataclass(frozen=True)
class SeasonalNaive:
    """The value one period earlier (or whole periods earlier, past one period ahead)."""

    period: int
    name: str = "seasonal-naive"

    def lookback(self, steps: int) -> int:
        return self.period * (1 + (steps - 1) // self.period)

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        filled = ffill(y)
        k = np.arange(steps)
        back = self.period * (1 + k // self.period)
        idx = origins[:, None] + k[None, :] - back[None, :]
        fallback = filled[origins - 1][:, None]
        return np.asarray(np.where(idx >= 0, filled[np.clip(idx, 0, None)], fallback))


@dataclass(frozen=True)
class ExponentialSmoother:
    """Simple exponential smoothing of the level (half-life in steps).

    Computed as a truncated weighted sum over the last `lookback` steps (weights below
    2^-8 dropped into the oldest value), so one origin costs one dot product. A gap holds
    the last observed value.
    """

    half_life: float
    name: str = "exp-smoother"

    def lookback(self, steps: int) -> int:
        return max(1, int(self.half_life * 8))

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        alpha = 1.0 - 0.5 ** (1.0 / self.half_life)
        span = self.lookback(steps)
        weights = alpha * (1.0 - alpha) ** np.arange(span)
        filled = ffill(y)
        idx = origins[:, None] - 1 - np.arange(span)[None, :]
        recent = filled[np.clip(idx, 0, None)] @ weights
        oldest = filled[np.clip(origins - span, 0, None)] * (1.0 - alpha) ** span
        level = recent + oldest
        return np.repeat(level[:, None], steps, axis=1)


@dataclass(frozen=True)
class SeasonalDelta:
    """Last level plus a damped seasonal difference: the intraday shape of one period
    earlier, applied on top of the current level (in log1p space).

    log1p(forecast[o + k]) = level(o) + damping * (log1p(y[o + k - P]) - level(o - P)),
    where level(t) is the mean of log1p(y) over the `window` steps before t.
    """

    period: int
    damping: float
    window: int = 1
    name: str = "seasonal-delta"

    def lookback(self, steps: int) -> int:
        return self.period + max(steps, self.window)

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        log_y = np.log1p(np.maximum(ffill(y), 0.0))
        level = RecentMean(self.window).paths(log_y, origins, 1)[:, 0]
        back = np.maximum(origins - self.period, 1)
        past_level = RecentMean(self.window).paths(log_y, back, 1)[:, 0]
        k = np.arange(steps)
        idx = origins[:, None] + k[None, :] - self.period
        idx = np.where(idx < origins[:, None], idx, origins[:, None] - 1)  # past one period
        shape = log_y[np.clip(idx, 0, None)] - past_level[:, None]
        shape = np.where(origins[:, None] > self.period, shape, 0.0)
        return np.asarray(np.maximum(np.expm1(level[:, None] + self.damping * shape), 0.0))


@dataclass(frozen=True)
class SeasonalProfile:
    """A fitted seasonal shape in log1p space on a fixed grid (from `prophet_model`).

    `seasonal[i]` is the daily + weekly effect at grid index `offset + i` of the series
    it was fitted for; `fitted[i]` is the full fitted value (trend included).
    """

    offset: int
    seasonal: np.ndarray
    fitted: np.ndarray

    def window(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Seasonal and fitted values for grid indices [lo, hi) (edge values repeated)."""
        idx = np.clip(np.arange(lo, hi) - self.offset, 0, len(self.seasonal) - 1)
        return self.seasonal[idx], self.fitted[idx]


@dataclass(frozen=True)
class AnchoredSeasonal:
    """Prophet's daily/weekly shape anchored on the recent deseasonalised level.

    log1p(forecast[o + k]) = mean(log1p(y) - s over the last `window` steps) + s[o + k].
    The level follows the load's shifts; the shape comes from the fitted seasonality.
    """

    profile: SeasonalProfile
    window: int
    name: str = "prophet-anchored"

    def lookback(self, steps: int) -> int:
        return self.window

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        lo = int(max(0, origins.min() - self.window))
        hi = int(origins.max() + steps)
        s, _ = self.profile.window(lo, hi)
        resid = np.log1p(np.maximum(y[lo:hi], 0.0)) - s[: max(0, min(len(y), hi) - lo)]
        resid = np.concatenate((resid, np.full(hi - lo - len(resid), np.nan)))
        level = RecentMean(self.window).paths(resid, origins - lo, 1)[:, 0]
        k = np.arange(steps)
        future = s[(origins - lo)[:, None] + k[None, :]]
        return np.asarray(np.maximum(np.expm1(level[:, None] + future), 0.0))


@dataclass(frozen=True)
class ProphetPlain:
    """The fitted Prophet curve itself (trend + seasonality), ignoring recent values."""

    profile: SeasonalProfile
    name: str = "prophet"

    def lookback(self, steps: int) -> int:
        return 1

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        lo, hi = int(origins.min()), int(origins.max() + steps)
        _, fitted = self.profile.window(lo, hi)
        k = np.arange(steps)
        return np.asarray(np.maximum(np.expm1(fitted[(origins - lo)[:, None] + k[None, :]]), 0.0))


@dataclass(frozen=True)
class Ensemble:
    """The mean of several methods' paths (forecast combination: errors partly cancel)."""

    parts: tuple[PointMethod, ...]
    name: str = "ensemble"

    def lookback(self, steps: int) -> int:
        return max(p.lookback(steps) for p in self.parts)

    def paths(self, y: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        return np.asarray(np.mean([p.paths(y, origins, steps) for p in self.parts], axis=0))


def prophet_methods(profile: SeasonalProfile, step_seconds: float) -> list[PointMethod]:
    """Prophet-based candidates: the shape anchored on the last point and on the last
    hour's mean, and an ensemble of the first with last value and a 30-minute smoother."""
    per_hour = max(1, round(3600 / step_seconds))
    anchored = AnchoredSeasonal(profile, 1, name="prophet-anchored")
    hourly = AnchoredSeasonal(profile, per_hour, name="prophet-anchored-1h")
    smoother = ExponentialSmoother(max(1.0, per_hour / 2), name="exp-smoother-30m")
    ensemble = Ensemble((LastValue(), smoother, anchored), name="prophet-ensemble")
    return [anchored, hourly, ensemble]


def mix_candidates(profile: SeasonalProfile | None, step_seconds: float) -> list[PointMethod]:
    """What the online mix weighs: the baselines, last value plus yesterday's and last
    week's damped intraday shape, on windows of 150 s or less the mean of the last 5
    minutes (a minute's count carries its burst noise, which last value passes on), and
    (given a profile) the Prophet-based methods."""
    per_day = max(1, round(86_400 / step_seconds))
    out = [
        *baseline_methods(step_seconds),
        SeasonalDelta(per_day, 0.5, name="last-value+day-shape"),
        SeasonalDelta(7 * per_day, 0.5, name="last-value+week-shape"),
    ]
    short = round(300 / step_seconds)
    if short >= 2:  # minute windows: a 5-minute mean, so burst noise is not forecast
        out.append(RecentMean(short, name="last-5-min-mean"))
    if profile is not None:
        out += prophet_methods(profile, step_seconds)
    return out


def baseline_methods(step_seconds: float) -> list[PointMethod]:
    """The cheap candidates: last value, last-hour mean, day / week seasonal naive, smoothers."""
    per_hour = max(1, round(3600 / step_seconds))
    return [
        LastValue(),
        RecentMean(per_hour, name="last-hour-mean"),
        SeasonalNaive(24 * per_hour, name="seasonal-naive-day"),
        SeasonalNaive(7 * 24 * per_hour, name="seasonal-naive-week"),
        ExponentialSmoother(max(1.0, per_hour / 2), name="exp-smoother-30m"),
        ExponentialSmoother(2.0 * per_hour, name="exp-smoother-2h"),
    ]
