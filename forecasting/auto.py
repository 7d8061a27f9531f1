"""The daemon's forecaster: per series, the method that wins a rolling backtest, refitted
on a schedule, with bands from its own backtest residuals.

Every call is cheap: the chosen method runs on the tail of the history. The choice (and,
when enabled and the history spans two days, a Prophet seasonal profile) is refitted
when `refit_seconds` (Prophet: `prophet_refit_seconds`) of series time have passed.
Short, empty or all-zero histories, and any failure of the chosen method, give a
last-value forecast flagged `fallback=True` with a note saying why: this forecaster
never raises into the daemon. State is a cache only: a fresh instance rebuilds it from
the history it is given, so it need not be checkpointed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import Field

from forecasting.backtest import Band, Choice, choose, seasonal_scale
from forecasting.methods import (
    AnchoredSeasonal,
    Ensemble,
    PointMethod,
    SeasonalProfile,
    baseline_methods,
    prophet_methods,
)
from forecasting.series import prepare, to_array, zeros_are_holes
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries
from gpusteward.core.model import Frozen

_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: grid indices are absolute from here
DAY = 86_400.0


class AutoForecasterConfig(Frozen):
    """How the daemon forecasts (the `forecaster:` block of a scenario)."""

    kind: Literal["auto"] = "auto"
    refit_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Re-choose the method this often (series time)."
    )
    prophet: bool = Field(default=True, description="Offer Prophet-based candidates.")
    prophet_refit_seconds: float = Field(
        default=DAY, gt=0, description="Refit Prophet this often (series time); it costs ~0.3 s."
    )
    validation_seconds: float = Field(
        default=2 * DAY, gt=0, description="History the methods are compared on."
    )
    min_history_seconds: float = Field(
        default=3 * 3600.0, gt=0, description="Below this, a flagged last value is used."
    )


class LastValueConfig(Frozen):
    kind: Literal["last-value"] = "last-value"


@dataclass
class _Fit:
    choice: Choice
    at: int  # absolute grid index of the history's end when chosen
    profile: SeasonalProfile | None
    profile_at: int  # absolute grid index where the profile's index 0 lies
    profile_fitted_at: int
    steps: int
    zeros_are_holes: bool


def grid_index(at: datetime, step_seconds: float) -> int:
    return round((at - _EPOCH).total_seconds() / step_seconds)


class AutoForecaster:
    """`Forecaster` port: backtest-chosen method per series; flagged baseline otherwise."""

    name = "auto"
    version = "1"

    def __init__(self, config: AutoForecasterConfig | None = None) -> None:
        self.config = config or AutoForecasterConfig()
        self._fits: dict[str, _Fit] = {}

    def forecast(self, series: LoadSeries, horizon_seconds: float) -> Forecast:
        steps = max(1, round(horizon_seconds / series.step_seconds))
        try:
            return self._forecast(series, steps)
        except Exception as e:  # a bug or bad data must not reach the daemon as an exception
            self._fits.pop(series.key, None)
            return last_value_forecast(
                series, steps, (f"auto forecaster failed ({type(e).__name__}: {e}); last value",)
            )

    # -- internals --------------------------------------------------------------------

    def _forecast(self, series: LoadSeries, steps: int) -> Forecast:
        cfg = self.config
        end = grid_index(series.end, series.step_seconds)
        fit = self._fits.get(series.key)
        refit_steps = round(cfg.refit_seconds / series.step_seconds)
        if fit is None or fit.steps != steps or end - fit.at >= refit_steps or end < fit.at:
            prepared = prepare(series)
            span = len(series.values) * series.step_seconds
            if prepared.degenerate or span < cfg.min_history_seconds:
                why = "all zero" if prepared.observed >= 3 else "too short"
                notes = (
                    f"history {why} ({prepared.observed} observed points over "
                    f"{span / 3600:.1f} h); last value",
                    *prepared.notes,
                )
                return last_value_forecast(series, steps, notes)
            fit = self._refit(prepared.values, series, steps, end, fit)
            self._fits[series.key] = fit
        return self._predict(series, fit, steps, end)

    def _refit(
        self, y: np.ndarray, series: LoadSeries, steps: int, end: int, old: _Fit | None
    ) -> _Fit:
        cfg, step = self.config, series.step_seconds
        start = end - len(y)
        profile, profile_at, profile_fitted_at = None, 0, 0
        prophet_steps = round(cfg.prophet_refit_seconds / step)
        reuse = old if old is not None and old.profile is not None else None
        if reuse is not None and end - reuse.profile_fitted_at < prophet_steps:
            profile, profile_at = reuse.profile, reuse.profile_at
            profile_fitted_at = reuse.profile_fitted_at
        elif cfg.prophet and len(y) * step >= 2 * DAY:
            from forecasting.prophet_model import fit_profile

            ahead = prophet_steps + steps + 1
            profile = fit_profile(y, series.start, step, ahead)
            profile_at, profile_fitted_at = start, end
        candidates = baseline_methods(step)
        if profile is not None:
            local = dataclasses.replace(profile, offset=profile_at - start)
            candidates += prophet_methods(local, step)
        per_day = max(1, round(DAY / step))
        scale = seasonal_scale(y, per_day)
        validation = min(len(y) - 1, round(cfg.validation_seconds / step))
        stride = max(1, validation // 500)
        choice = choose(candidates, y, steps, validation, scale, stride)
        holes = zeros_are_holes(y, step)
        return _Fit(choice, end, profile, profile_at, profile_fitted_at, steps, holes)

    def _predict(self, series: LoadSeries, fit: _Fit, steps: int, end: int) -> Forecast:
        method = fit.choice.method
        need = min(len(series.values), method.lookback(steps) + 1)
        tail = to_array(series.values[len(series.values) - need :])
        tail = np.where(np.isfinite(tail) & (tail >= 0), tail, np.nan)
        if fit.zeros_are_holes:
            tail[tail == 0] = np.nan
        if fit.profile is not None:
            method = _rebase(method, fit.profile_at - (end - need))
        path = method.paths(tail, np.array([len(tail)]), steps)
        if not np.all(np.isfinite(path)):
            raise ValueError("the chosen method produced a non-finite forecast")
        return _build(series, path[0], fit.choice.band, f"{self.name}/{method.name}", ())


def _rebase(method: PointMethod, offset: int) -> PointMethod:
    """The method with its Prophet profile re-indexed to a tail array starting elsewhere."""
    if isinstance(method, AnchoredSeasonal):
        return dataclasses.replace(
            method, profile=dataclasses.replace(method.profile, offset=offset)
        )
    if isinstance(method, Ensemble):
        return dataclasses.replace(method, parts=tuple(_rebase(p, offset) for p in method.parts))
    return method


def _build(
    series: LoadSeries,
    point: np.ndarray,
    band: Band,
    name: str,
    notes: tuple[str, ...],
    *,
    fallback: bool = False,
) -> Forecast:
    lo, mid, hi = band.apply(point)
    if not np.all(np.isfinite(hi)):
        raise ValueError("the forecast band overflowed")
    end, step = series.end, timedelta(seconds=series.step_seconds)
    rows = zip(np.maximum(point, 0.0).tolist(), lo.tolist(), mid.tolist(), hi.tolist(), strict=True)
    points = tuple(
        _point(end + step * (i + 1), pt, p10, p50, p90)
        for i, (pt, p10, p50, p90) in enumerate(rows)
    )
    return Forecast(
        key=series.key,
        forecaster=name,
        made_at=end,
        step_seconds=series.step_seconds,
        points=points,
        notes=notes,
        fallback=fallback,
    )


_POINT_FIELDS = frozenset(("at", "point", "p10", "p50", "p90"))


def _point(at: datetime, point: float, p10: float, p50: float, p90: float) -> ForecastPoint:
    """A ForecastPoint without pydantic's per-field work: the values are valid by
    construction (finite, >= 0, ordered: `Band.apply` sorts its quantiles). This runs
    for every point of every series on every tick."""
    p = ForecastPoint.__new__(ForecastPoint)
    object.__setattr__(
        p, "__dict__", {"at": at, "point": point, "p10": p10, "p50": p50, "p90": p90}
    )
    object.__setattr__(p, "__pydantic_fields_set__", _POINT_FIELDS)
    object.__setattr__(p, "__pydantic_extra__", None)
    object.__setattr__(p, "__pydantic_private__", None)
    return p


def last_value_forecast(series: LoadSeries, steps: int, notes: tuple[str, ...]) -> Forecast:
    """A flat, zero-width forecast at the last observed finite rate (0 when none)."""
    last = 0.0
    for v in reversed(series.values):
        if v is not None and np.isfinite(v) and v >= 0:
            last = float(v)
            break
    point = np.full(steps, last)
    return _build(series, point, Band(np.zeros((steps, 3))), "last-value", notes, fallback=True)
