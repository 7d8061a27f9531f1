"""Online aggregation of point methods and online band calibration, from realised errors.

Both walk forward one forecast origin at a time and use, at origin `o`, only forecasts
whose targets are already observed: the forecast made at origin `j` for lead `k`
(target `y[j + k]`) is scored when entering origin `j + k + 1`. That is how the daemon
runs (each window it learns from the window that just arrived), and it keeps a rolling
backtest strictly out of sample.

- `Mix`: per lead step, a softmax over the candidates' discounted mean absolute errors
  relative to the best one (an exponentially weighted average forecaster, "Hedge": its
  regret against the best candidate is bounded, and the mix often beats every one).
- `Calibrator`: the p10 / p90 offsets (log1p residual quantiles per lead, the "base")
  are widened or narrowed by adaptive conformal inference (Gibbs & Candès 2021): one
  offset per tail, shared by every lead step, in units of each lead's base width, moved
  by `gamma * (miss share - 0.1)` as targets arrive. It learns from the first hour of
  leads only (`feedback_leads`): those are realised within the hour, so after a level
  shift they widen the long leads a day before the long leads' own misses arrive. Each
  longer lead adds its own offset, moved by its own misses (`long_gamma`): the day-ahead
  band is calibrated on the day-ahead errors of every day seen, level shifts included.
The state is small (a few arrays of `candidates x steps`), so one step costs
microseconds; `run_online` replays a window in one call. Pure numpy: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.backtest import QUANTILES, nan_quantiles


@dataclass(frozen=True)
class OnlineSettings:
    """How fast the mix and the band learn, per series window (step). `for_step` gives
    the defaults for any step; they were chosen on ServeGen training days only (days
    1-10 to fit, 11-12 to validate; see benchmarks/RESULTS.md)."""

    half_life_steps: float = 36.0  # discount of realised errors
    eta: float = 8.0  # softmax sharpness on relative error (0: equal weights)
    gamma: float = 0.2  # ACI step per origin, in base-band widths
    feedback_leads: int = 6  # ACI learns from leads 1 .. this (0: all)
    offset_bounds: tuple[float, float] = (-0.45, 20.0)
    # ACI step of each longer lead's own offset, learnt from that lead's own realised
    # targets (a day late at a 1-day lead): 0 = off, the first hour's offset alone
    long_gamma: float = 0.0

    @classmethod
    def for_step(cls, step_seconds: float) -> OnlineSettings:
        """Errors discounted with a 6 h half-life; the band learns from the first hour of
        leads, at the same speed per hour of series time whatever the step; each longer
        lead also learns its own offset from its own misses, about 1.3 base widths per day
        of misses (a time scale: a day-ahead lead sees one independent error a day)."""
        return cls(
            half_life_steps=max(1.0, 6 * 3600 / step_seconds),
            gamma=min(0.5, 0.2 * step_seconds / 600),
            feedback_leads=max(1, round(3600 / step_seconds)),
            long_gamma=min(0.05, 0.01 * step_seconds / 600),
        )


class Mix:
    """Hedge weights per lead step over `candidates` point methods, learnt online."""

    def __init__(self, candidates: int, steps: int, settings: OnlineSettings) -> None:
        self.steps, self.settings = steps, settings
        self.lam = 0.5 ** (1.0 / settings.half_life_steps)
        self.num = np.zeros((candidates, steps))  # discounted |error| sums
        self.den = np.zeros(steps)  # discounted counts of realised targets
        self.recent = np.full((steps, candidates, steps), np.nan)  # paths by origin % steps
        self.first: int | None = None
        self.next: int | None = None
        self._k = np.arange(steps)
        self.last_weights = np.full((candidates, steps), 1.0 / candidates)

    def advance(self, origin: int, paths: np.ndarray, previous: float) -> np.ndarray:
        """Enter `origin`: learn from `previous` (= y[origin - 1], NaN if missing), then
        return the mixed path of `paths` (candidates, steps) and remember them."""
        if self.next is not None and origin != self.next:
            raise ValueError(f"origin {origin} given; expected {self.next} (consecutive)")
        if self.first is None:
            self.first = origin
        elif np.isfinite(previous):
            j = origin - 1 - self._k
            ok = j >= self.first
            pred = self.recent[j % self.steps, :, self._k].T  # (candidates, steps)
            err = np.abs(previous - pred)
            self.num = self.lam * self.num + np.where(ok, err, 0.0)
            self.den = self.lam * self.den + ok
        else:
            self.num *= self.lam
            self.den *= self.lam
        self.recent[origin % self.steps] = paths
        self.next = origin + 1
        self.last_weights = self.weights()
        return np.asarray(np.einsum("mk,mk->k", self.last_weights, paths))

    def weights(self) -> np.ndarray:
        """(candidates, steps), summing to 1 per lead; equal where nothing is realised."""
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.where(self.den > 0, self.num / self.den, np.nan)
        if np.all(np.isnan(loss)):
            return np.full(self.num.shape, 1.0 / len(self.num))
        best = np.fmin.reduce(loss, axis=0)  # NaN-skipping, and silent on all-NaN leads
        rel = loss / np.maximum(best, 1e-12) - 1.0
        rel = np.where(np.isfinite(rel), rel, 0.0)  # a lead with nothing realised: equal
        w = np.exp(-self.settings.eta * rel)
        return np.asarray(w / w.sum(axis=0, keepdims=True))


class Calibrator:
    """Adaptive conformal p10 / p90 around point paths, from base log1p quantiles."""

    def __init__(self, base: np.ndarray, settings: OnlineSettings) -> None:
        self.base, self.settings = base, settings
        self.steps = len(base)
        self.width = np.maximum(base[:, 2] - base[:, 0], 0.02)
        self.offsets = np.zeros(2)  # lower, upper: in base widths
        self.extra = np.zeros((2, self.steps))  # each longer lead's own offsets, the same units
        self.lows = np.full((self.steps, self.steps), np.nan)  # log band by origin % steps
        self.highs = np.full((self.steps, self.steps), np.nan)
        self.first: int | None = None
        self._k = np.arange(min(self.steps, settings.feedback_leads or self.steps))
        own = settings.long_gamma > 0 and bool(settings.feedback_leads)
        self._long = np.arange(len(self._k), self.steps) if own else np.arange(0)

    def advance(
        self, origin: int, point: np.ndarray, previous: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Enter `origin`: compare `previous` (y[origin - 1]) with the bands issued for it,
        move the offsets, and return p10, p50, p90 around `point` (steps,)."""
        if self.first is None:
            self.first = origin
        elif np.isfinite(previous):
            j = origin - 1 - self._k
            ok = j >= self.first
            if ok.any():
                jj, kk = j[ok] % self.steps, self._k[ok]
                seen = np.log1p(max(previous, 0.0))
                tail = QUANTILES[0]
                below = float(np.mean(seen < self.lows[jj, kk]))
                above = float(np.mean(seen > self.highs[jj, kk]))
                self.offsets += self.settings.gamma * (np.array([below, above]) - tail)
                np.clip(self.offsets, *self.settings.offset_bounds, out=self.offsets)
            if self._long.size:
                self._learn_long(origin, np.log1p(max(previous, 0.0)))
        log_point = np.log1p(np.maximum(point, 0.0))
        low = log_point + self.base[:, 0] - (self.offsets[0] + self.extra[0]) * self.width
        high = log_point + self.base[:, 2] + (self.offsets[1] + self.extra[1]) * self.width
        self.lows[origin % self.steps], self.highs[origin % self.steps] = low, high
        mid = log_point + self.base[:, 1]
        stacked = np.sort(np.stack((low, mid, high)), axis=0)
        lo, p50, hi = (np.maximum(np.expm1(s), 0.0) for s in stacked)
        return lo, p50, hi

    def _learn_long(self, origin: int, seen: float) -> None:
        """Each lead past the first hour moves its own offsets by its own misses of the
        target just realised (ACI per lead: its long-run miss share goes to 10 % per tail
        whatever the first hour's offset does), so a band a day ahead is calibrated on
        day-ahead errors, level shifts included, once they have been seen."""
        assert self.first is not None
        k = self._long
        j = origin - 1 - k
        ok = j >= self.first
        if not ok.any():
            return
        jj, kk = j[ok] % self.steps, k[ok]
        tail = QUANTILES[0]
        step = self.settings.long_gamma
        self.extra[0, kk] += step * ((seen < self.lows[jj, kk]) - tail)
        self.extra[1, kk] += step * ((seen > self.highs[jj, kk]) - tail)
        low, high = self.settings.offset_bounds
        np.clip(self.extra, low, high, out=self.extra)


def residual_quantiles(
    point: np.ndarray, y: np.ndarray, origins: np.ndarray, known_before: int
) -> np.ndarray:
    """(steps, 3) log1p residual p10 / p50 / p90 per lead over targets before `known_before`."""
    steps = point.shape[1]
    idx = origins[:, None] + np.arange(steps)[None, :]
    actual = np.where(idx < min(known_before, len(y)), y[np.clip(idx, 0, len(y) - 1)], np.nan)
    resid = np.log1p(np.maximum(actual, 0.0)) - np.log1p(np.maximum(point, 0.0))
    q = nan_quantiles(resid)
    q.sort(axis=1)
    return np.asarray(q)


@dataclass
class OnlineRun:
    """Paths and bands (origins, steps) from walking consecutive origins, and the
    states to continue from (for the next origin)."""

    point: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    weights_per_origin: np.ndarray  # (candidates, origins): mean weight over lead steps
    mix: Mix
    calibrator: Calibrator


def previous_values(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """y[o - 1] for each origin (NaN where o - 1 lies outside y)."""
    idx = origins - 1
    return np.where((idx >= 0) & (idx < len(y)), y[np.clip(idx, 0, len(y) - 1)], np.nan)


def calibrate(
    point: np.ndarray,
    y: np.ndarray,
    origins: np.ndarray,
    base_known_before: int,
    settings: OnlineSettings,
    shift: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Calibrator]:
    """Online bands for precomputed point paths; the base from targets before the cut.
    The calibrator's state counts origins from `shift` (an absolute grid index of y[0])."""
    base = residual_quantiles(point, y, origins, base_known_before)
    cal = Calibrator(base, settings)
    prev = previous_values(y, origins)
    rows = zip(origins, point, prev, strict=True)
    bands = [cal.advance(int(o) + shift, p, float(v)) for o, p, v in rows]
    lo, mid, hi = (np.array([b[j] for b in bands]) for j in range(3))
    return lo, mid, hi, cal


def run_online(
    paths: np.ndarray,
    y: np.ndarray,
    origins: np.ndarray,
    base_known_before: int,
    settings: OnlineSettings,
    shift: int = 0,
) -> OnlineRun:
    """Mix `paths` (candidates, origins, steps) over consecutive `origins`, then band it.

    The base quantiles come from the mix's residuals on targets before
    `base_known_before` (the end of training in a backtest; the history's end live).
    The returned states count origins from `shift` (the absolute grid index of y[0]), so
    a caller can go on with `advance` for later absolute origins.
    """
    n_m, n, steps = paths.shape
    mix = Mix(n_m, steps, settings)
    prev = previous_values(y, origins)
    point = np.empty((n, steps))
    weights = np.empty((n_m, n))
    for i, o in enumerate(origins):
        point[i] = mix.advance(int(o) + shift, paths[:, i], float(prev[i]))
        weights[:, i] = mix.last_weights.mean(axis=1)
    lo, mid, hi, cal = calibrate(point, y, origins, base_known_before, settings, shift)
    return OnlineRun(point, lo, mid, hi, weights, mix, cal)
