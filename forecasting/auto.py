"""The daemon's forecaster: per series, an online mix of candidate methods (baselines,
shape-on-level methods and, with two days of history, Prophet-based ones), with an 80 %
band recalibrated online from realised errors (see `forecasting.online`).

On a refit (every `refit_seconds` of series time, or when the history jumps) the mix
and the band are replayed over the last `validation_seconds` of history; between refits
each new window advances them by one step (about 2 ms a series, mostly the candidates'
paths). A refit also follows each Prophet refit. The Prophet profile is refitted
every `prophet_refit_seconds`; `forecast_many` runs the due Prophet fits in parallel
(Prophet's Stan fit runs in a cmdstan subprocess, so threads give real parallelism).
Short, empty or all-zero histories, a history under twice the horizon, a feed with no
data for longer than a collection hole (`MAX_HOLE_SECONDS`), traffic stopped for longer
than that (forecast 0), a horizon that is not a positive number or longer than the mix
takes (`forecasting.guards`), a key given twice in one call, and any failure give a
last-value forecast flagged `fallback=True` with a note saying why: this forecaster
never raises into the daemon. What cleaning the history took (gaps, invalid rates,
collection holes) is noted on every forecast.
State is a cache only: a cached fit is used only while the last 1,440 points of the
history it was built on are unchanged, and a fresh instance rebuilds it from the history
it is given (the mix and band as replayed over the last `validation_seconds`), so it
need not be checkpointed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from pydantic import Field

from forecasting.guards import (
    build_forecast,
    history_tail,
    horizon_problem,
    horizon_steps,
    last_value_forecast,
    same_tail,
    silent_tail,
)
from forecasting.methods import (
    AnchoredSeasonal,
    Ensemble,
    PointMethod,
    SeasonalProfile,
    mix_candidates,
)
from forecasting.online import Calibrator, Mix, OnlineSettings, run_online
from forecasting.series import (
    MIN_POINTS,
    PreparedSeries,
    longest_hole,
    prepare,
    short_zero_runs,
    to_array,
    zeros_are_holes,
)
from gpusteward.core.load import Forecast, LoadSeries
from gpusteward.core.model import Frozen

_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: grid indices are absolute from here
DAY = 86_400.0


class AutoForecasterConfig(Frozen):
    """How the daemon forecasts (the `forecaster:` block of a scenario)."""

    kind: Literal["auto"] = "auto"
    refit_seconds: float = Field(
        default=DAY,
        gt=0,
        description="Replay the mix and the band over the validation window this often "
        "(series time; also whenever Prophet is refitted); between refits each new window "
        "updates them in one step.",
    )
    prophet: bool = Field(default=True, description="Offer Prophet-based candidates.")
    prophet_refit_seconds: float = Field(
        default=DAY, gt=0, description="Refit Prophet this often (series time); it costs ~0.3 s."
    )
    validation_seconds: float = Field(
        default=4 * DAY,
        gt=0,
        description="History the mix and band are replayed over on a refit (4 days: "
        "enough day-ahead residuals for the band's base; chosen on training data).",
    )
    min_history_seconds: float = Field(
        default=3 * 3600.0, gt=0, description="Below this, a flagged last value is used."
    )
    fit_workers: int = Field(
        default=4, ge=1, description="Prophet fits run at once by `forecast_many` (threads)."
    )


class LastValueConfig(Frozen):
    kind: Literal["last-value"] = "last-value"


@dataclass(frozen=True)
class _Profile:
    profile: SeasonalProfile | None  # None: a degenerate series or a failed fit
    at: int  # absolute grid index of the profile's index 0
    fitted_at: int  # absolute grid index of the history's end when fitted


@dataclass
class _Fit:
    steps: int
    at: int  # absolute grid index of the history's end at the last refit
    profile: _Profile | None
    candidates: tuple[PointMethod, ...]  # Prophet-based ones indexed from profile.at
    lookback: int
    mix: Mix
    calibrator: Calibrator
    next: int  # the next origin (absolute grid index) to enter
    zeros_are_holes: bool
    last: Forecast
    tail: np.ndarray  # the last `HISTORY_CHECK_POINTS` values up to `next - 1`: revised data refits
    notes: tuple[str, ...]  # what cleaning the history at the last refit did


ProfileFit = Callable[[np.ndarray, datetime, float, int], SeasonalProfile]
"""(values with NaN holes, start, step seconds, steps ahead) -> a seasonal profile;
`forecasting.prophet_model.fit_profile` unless a test injects another."""


def _prophet_fit(values: np.ndarray, start: datetime, step: float, ahead: int) -> SeasonalProfile:
    from forecasting.prophet_model import fit_profile

    return fit_profile(values, start, step, ahead)


def grid_index(at: datetime, step_seconds: float) -> int:
    return round((at - _EPOCH).total_seconds() / step_seconds)


class AutoForecaster:
    """`Forecaster` port: an online mix per series with calibrated bands; flagged baseline
    otherwise. Use `forecast_many` for many series: due Prophet fits run in parallel."""

    name = "auto"
    version = "2"
    blocking_io = True  # Prophet fits take seconds: the daemon runs it off its event loop

    def __init__(
        self,
        config: AutoForecasterConfig | None = None,
        online: OnlineSettings | None = None,
        fit: ProfileFit = _prophet_fit,
    ) -> None:
        self.config = config or AutoForecasterConfig()
        self.online = online
        self.fit = fit
        self._fits: dict[str, _Fit] = {}
        self._profiles: dict[str, _Profile] = {}

    def forecast(self, series: LoadSeries, horizon_seconds: float) -> Forecast:
        return self.forecast_many([series], horizon_seconds)[0]

    def forecast_many(self, series: Sequence[LoadSeries], horizon_seconds: float) -> list[Forecast]:
        """One forecast per series, in order. The Prophet fits that are due run first, in
        parallel (at most `fit_workers` at once); each call waits for them, so the same
        inputs give the same forecasts. Never raises: a bad horizon, or a key given twice
        (its fits would overwrite each other), gives flagged last values."""
        counts = Counter(s.key for s in series)
        twice = {key for key, n in counts.items() if n > 1}
        due = [s for s in series if s.key not in twice and self._profile_due(s)]
        if len(due) > 1 and self.config.fit_workers > 1:
            with ThreadPoolExecutor(min(len(due), self.config.fit_workers)) as pool:
                fitted = list(pool.map(self._fit_profile, due))
        else:
            fitted = [self._fit_profile(s) for s in due]
        for s, profile in zip(due, fitted, strict=True):
            self._profiles[s.key] = profile
        return [
            self._forecast_safe(s, horizon_seconds)
            if s.key not in twice
            else self._fallback(
                s,
                horizon_seconds,
                f"series key {s.key!r} was given {counts[s.key]} times "
                "in one call; keys must be unique (one series per deployment): last value",
            )
            for s in series
        ]

    # -- internals --------------------------------------------------------------------

    def _fallback(self, series: LoadSeries, horizon_seconds: float, why: str) -> Forecast:
        self._fits.pop(series.key, None)
        steps = horizon_steps(horizon_seconds, series.step_seconds)
        return last_value_forecast(series, steps, (why,))

    def _forecast_safe(self, series: LoadSeries, horizon_seconds: float) -> Forecast:
        try:
            problem = horizon_problem(horizon_seconds, series.step_seconds)
            if problem is not None:
                return self._fallback(series, horizon_seconds, f"{problem}; last value")
            return self._forecast(series, horizon_steps(horizon_seconds, series.step_seconds))
        except Exception as e:  # a bug or bad data must not reach the daemon as an exception
            return self._fallback(
                series,
                horizon_seconds,
                f"auto forecaster failed ({type(e).__name__}: {e}); last value",
            )

    def _profile_due(self, series: LoadSeries) -> bool:
        cfg, step = self.config, series.step_seconds
        if not cfg.prophet or len(series.values) * step < 2 * DAY:
            return False
        end = grid_index(series.end, step)
        known = self._profiles.get(series.key)
        if known is None:
            return True
        age = end - known.fitted_at
        return age < 0 or age >= round(cfg.prophet_refit_seconds / step)

    def _fit_profile(self, series: LoadSeries) -> _Profile:
        """Prophet's profile of the series (`profile=None` for a degenerate series or a
        failed fit: the baselines go on alone). Runs in a worker thread: shares nothing."""
        step = series.step_seconds
        end = grid_index(series.end, step)
        start = end - len(series.values)
        try:
            prepared = prepare(series)
            if prepared.degenerate:
                return _Profile(None, start, end)
            ahead = round(self.config.prophet_refit_seconds / step) + 2 * round(DAY / step) + 1
            return _Profile(self.fit(prepared.values, series.start, step, ahead), start, end)
        except Exception:  # retried on the Prophet schedule
            return _Profile(None, start, end)

    def _forecast(self, series: LoadSeries, steps: int) -> Forecast:
        cfg, step = self.config, series.step_seconds
        end = grid_index(series.end, step)
        fit = self._fits.get(series.key)
        profile = self._profiles.get(series.key)
        history = history_tail(series.values)  # one conversion per call: checked, then kept
        if fit is not None and fit.steps == steps and fit.next <= end + 1:
            entered = end + 1 - fit.next  # windows since the last call
            if not same_tail(fit.tail, history, entered):
                fit = None  # the history it was built on was revised: start over
            elif entered == 0:
                return fit.last  # the same history: the same forecast
        silent = silent_tail(series, fit.zeros_are_holes if fit else None)
        if silent is not None:
            return self._fallback(series, steps * step, silent)
        stale = (
            fit is None
            or fit.steps != steps
            or fit.profile is not profile
            or end < fit.next
            or end - fit.at >= round(cfg.refit_seconds / step)
            or end - fit.next > round(cfg.validation_seconds / step)
        )
        if not stale and fit is not None:
            return self._advance(series, fit, end, history)
        prepared = prepare(series)
        span = len(series.values) * step
        if prepared.degenerate or span < cfg.min_history_seconds:
            self._fits.pop(series.key, None)
            if prepared.observed == 0:
                why = "without a valid value"
            elif prepared.degenerate and prepared.observed >= MIN_POINTS:
                why = "all zero"
            else:
                why = "too short"
            notes = (
                f"history {why} ({prepared.observed} observed points over "
                f"{span / 3600:.1f} h); last value",
                *prepared.notes,
            )
            return last_value_forecast(series, steps, notes)
        if span < 2 * steps * step:
            self._fits.pop(series.key, None)
            notes = (
                f"history of {span / 3600:.1f} h is under twice the horizon "
                f"({steps * step / 3600:.1f} h): the band's longest leads cannot be "
                "calibrated from realised errors; last value",
                *prepared.notes,
            )
            return last_value_forecast(series, steps, notes)
        fit = self._refit(prepared, series, steps, end, profile, history)
        self._fits[series.key] = fit
        return fit.last

    def _settings(self, step: float) -> OnlineSettings:
        return self.online or OnlineSettings.for_step(step)

    def _refit(
        self,
        prepared: PreparedSeries,
        series: LoadSeries,
        steps: int,
        end: int,
        profile: _Profile | None,
        history: np.ndarray,
    ) -> _Fit:
        """Replay the mix and the band over the last `validation_seconds` of history."""
        y, step = prepared.values, series.step_seconds
        start = end - len(y)
        candidates = tuple(mix_candidates(profile.profile if profile else None, step))
        local = _rebased(candidates, profile, start)
        window = round(self.config.validation_seconds / step)
        origins = np.arange(max(1, len(y) - window - steps + 1), len(y) + 1)
        paths = np.stack([m.paths(y, origins, steps) for m in local])
        run = run_online(paths, y, origins, len(y), self._settings(step), shift=start)
        lookback = max(m.lookback(steps) for m in candidates)
        holes = zeros_are_holes(y, step)
        forecast = self._build_mix(
            series, run.point[-1], run.p10[-1], run.p50[-1], run.p90[-1], prepared.notes
        )
        forecast = _with_weights(forecast, candidates, run.mix)
        return _Fit(
            steps,
            end,
            profile,
            candidates,
            lookback,
            run.mix,
            run.calibrator,
            end + 1,
            holes,
            forecast,
            history,
            tuple(f"{n} (at the last refit, {series.end:%Y-%m-%d %H:%M})" for n in prepared.notes),
        )

    def _advance(self, series: LoadSeries, fit: _Fit, end: int, history: np.ndarray) -> Forecast:
        """Enter each origin since the last call: learn from its newly realised window."""
        new = np.arange(fit.next, end + 1)
        need = min(len(series.values), fit.lookback + len(new) + 1)
        tail = to_array(series.values[len(series.values) - need :])
        tail = np.where(np.isfinite(tail) & (tail >= 0), tail, np.nan)
        if fit.zeros_are_holes:  # as `prepare`: a run of zeros seen whole, a hole or not
            seen = max(need, min(len(series.values), need + longest_hole(series.step_seconds) + 1))
            wider = to_array(series.values[len(series.values) - seen :])
            tail[short_zero_runs(wider, series.step_seconds)[seen - need :]] = np.nan
        tail_start = end - need
        at = new - tail_start
        if at.min() < 1:
            raise ValueError("the history is shorter than the mix needs; refit")
        margin = max(1, round(DAY / series.step_seconds))  # gaps up to a day: last value
        paths = np.stack([_paths(m, fit, tail, tail_start, at, margin) for m in fit.candidates])
        point = lo = mid = hi = np.empty(0)
        for i, o in enumerate(new):
            previous = float(tail[at[i] - 1])
            point = fit.mix.advance(int(o), paths[:, i], previous)
            lo, mid, hi = fit.calibrator.advance(int(o), point, previous)
        if not np.all(np.isfinite(point)):
            raise ValueError("the online mix produced a non-finite forecast")
        fit.next = end + 1
        fit.tail = history
        fit.last = _with_weights(
            self._build_mix(series, point, lo, mid, hi, fit.notes), fit.candidates, fit.mix
        )
        return fit.last

    def _build_mix(
        self,
        series: LoadSeries,
        point: np.ndarray,
        lo: np.ndarray,
        mid: np.ndarray,
        hi: np.ndarray,
        notes: tuple[str, ...],
    ) -> Forecast:
        return build_forecast(series, point, (lo, mid, hi), f"{self.name}/online-mix", notes)


def _paths(
    method: PointMethod,
    fit: _Fit,
    tail: np.ndarray,
    tail_start: int,
    at: np.ndarray,
    margin: int,
) -> np.ndarray:
    """`method`'s paths at origins `at` of `tail`, run on only as much of the tail as it
    looks back (plus `margin`, so a gap is bridged by the last value before it): most
    candidates need minutes of history, not the week the seasonal ones need."""
    need = min(len(tail), method.lookback(fit.steps) + len(at) + 1)
    cut = len(tail) - need
    # Reach back into the margin only as far as the last observed value: from a value on,
    # forward filling gives the same as from further back (a gap is bridged all the same),
    # and the method then works on its lookback, not on a day of history each call.
    if cut > 0 and np.isnan(tail[cut]):
        earlier = np.flatnonzero(np.isfinite(tail[max(0, cut - margin) : cut]))
        cut = max(0, cut - margin) + int(earlier[-1]) if len(earlier) else max(0, cut - margin)
    (local,) = _rebased((method,), fit.profile, tail_start + cut)
    return local.paths(tail[cut:], at - cut, fit.steps)


def _rebased(
    candidates: Sequence[PointMethod], profile: _Profile | None, array_start: int
) -> list[PointMethod]:
    """The candidates with Prophet profiles indexed for an array starting at `array_start`."""
    if profile is None or profile.profile is None:
        return list(candidates)
    return [_rebase(m, profile.at - array_start) for m in candidates]


def _with_weights(forecast: Forecast, candidates: Sequence[PointMethod], mix: Mix) -> Forecast:
    """The forecast with a note naming the mix's three heaviest candidates."""
    w = mix.last_weights.mean(axis=1)
    top = np.argsort(-w, kind="stable")[:3]
    note = "mix weights: " + ", ".join(f"{candidates[i].name} {w[i]:.2f}" for i in top)
    return forecast.model_copy(update={"notes": (*forecast.notes, note)})


def _rebase(method: PointMethod, offset: int) -> PointMethod:
    """The method with its Prophet profile re-indexed to a tail array starting elsewhere."""
    if isinstance(method, AnchoredSeasonal):
        return dataclasses.replace(
            method, profile=dataclasses.replace(method.profile, offset=offset)
        )
    if isinstance(method, Ensemble):
        return dataclasses.replace(method, parts=tuple(_rebase(p, offset) for p in method.parts))
    return method
