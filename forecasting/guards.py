"""What the auto forecaster does with input it should not forecast as given, and how
every forecast is laid out: the flagged last value, the horizon in steps, the check that
a cached fit's history is unchanged, and stale feeds or stopped traffic at a series' end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from forecasting.series import (
    MAX_HOLE_SECONDS,
    longest_hole,
    quiet_runs,
    to_array,
    zeros_are_holes,
)
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries

MAX_MIX_STEPS = 720
"""Longest horizon, in steps, the online mix takes: its memory grows with the square of
the steps (about 0.5 GB a series at 720). Longer: a flagged last value."""
MAX_FALLBACK_STEPS = 100_000
"""Points of a flagged last-value forecast at most (a horizon that long is a mistake)."""
HISTORY_CHECK_POINTS = 1440
"""History points whose content must match for a cached fit to be used."""


def horizon_steps(horizon_seconds: float, step_seconds: float) -> int:
    """Steps covering the horizon: at least one (a non-finite or non-positive horizon: 1)."""
    if not (np.isfinite(horizon_seconds) and horizon_seconds > 0):
        return 1
    return max(1, round(horizon_seconds / step_seconds))


def horizon_problem(horizon_seconds: float, step_seconds: float) -> str | None:
    """Why a horizon cannot be forecast by the online mix, or None when it can."""
    if not (np.isfinite(horizon_seconds) and horizon_seconds > 0):
        return (
            f"horizon {horizon_seconds!r} s is not a positive number of seconds "
            "(fix the forecast horizon setting)"
        )
    steps = horizon_steps(horizon_seconds, step_seconds)
    if steps > MAX_MIX_STEPS:
        return (
            f"a horizon of {steps} steps of {step_seconds:g} s is more than the online mix "
            f"takes ({MAX_MIX_STEPS}). Fix: forecast from coarser windows (10-minute ones "
            "for a day ahead) or a shorter horizon"
        )
    return None


def history_tail(values: Sequence[float | None]) -> np.ndarray:
    """The last `HISTORY_CHECK_POINTS` values (NaN for gaps)."""
    return to_array(values[max(0, len(values) - HISTORY_CHECK_POINTS) :])


def same_tail(kept: np.ndarray, now: np.ndarray, entered: int) -> bool:
    """Whether the history tail `now`, `entered` windows after `kept` was taken, still
    holds what `kept` held, over the points both have: a history that slid (dropped its
    oldest points) still matches; a revised or restarted one does not."""
    before = now[: len(now) - entered]  # what `now` held when `kept` was taken
    n = min(len(kept), len(before))
    if n == 0:
        return False
    return bool(np.array_equal(kept[len(kept) - n :], before[len(before) - n :], equal_nan=True))


def silent_tail(series: LoadSeries, zeros_are_holes_known: bool | None) -> str | None:
    """Why the series cannot be forecast from its history now: it has ended in more than
    `MAX_HOLE_SECONDS` with no data (a stale feed), or of zeros a level like this cannot
    have by chance, longer than any collection hole and than any idle stretch it came back
    from before (the traffic has stopped). None when neither."""
    values, step = series.values, series.step_seconds
    limit = longest_hole(step)
    tail = to_array(values[max(0, len(values) - limit - 1) :])
    valid = np.isfinite(tail) & (tail >= 0)
    if len(tail) <= limit:
        return None
    if not np.any(valid[-limit - 1 :]):
        return (
            f"no valid data in the last {limit * step / 3600:.1f} h or more (longer than a "
            f"collection hole, {MAX_HOLE_SECONDS / 3600:g} h): the feed looks stale; last "
            "value seen, flagged. Fix: check the metrics source for this deployment"
        )
    if np.all(tail[-limit - 1 :] == 0):
        holes = zeros_are_holes_known
        if holes is None:
            holes = zeros_are_holes(to_array(values), step)
        if holes and not _idled_as_long_before(to_array(values)):
            return (
                f"no traffic for over {limit * step / 3600:.1f} h: longer than any collection "
                f"hole ({MAX_HOLE_SECONDS / 3600:g} h), so the load is taken to have stopped "
                "(forecast 0)"
            )
    return None


def _idled_as_long_before(values: np.ndarray) -> bool:
    """Whether the run of zeros the series ends in is no longer than one it has already
    come back from (a client idle every night): then it has not stopped. Runs are quiet
    runs (a missed scrape does not split a night), counted by their zeros (a gap in the
    data is not idle time)."""
    runs = quiet_runs(values)
    if not runs or runs[-1][1] < len(values):
        return False  # it does not end in a quiet run
    zeros = [int(np.count_nonzero(values[a:b] == 0)) for a, b in runs]
    return len(zeros) > 1 and max(zeros[:-1]) >= zeros[-1]


def build_forecast(
    series: LoadSeries,
    point: np.ndarray,
    bands: tuple[np.ndarray, np.ndarray, np.ndarray],
    name: str,
    notes: tuple[str, ...],
    *,
    fallback: bool = False,
) -> Forecast:
    lo, mid, hi = bands
    if not (np.all(np.isfinite(hi)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(mid))):
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
    construction (finite, >= 0, ordered: the calibrator sorts its quantiles). This runs
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
    """A flat, zero-width forecast at the last observed finite rate (0 when none), of at
    most `MAX_FALLBACK_STEPS` points (a note says when cut)."""
    if steps > MAX_FALLBACK_STEPS:
        notes += (f"cut to the first {MAX_FALLBACK_STEPS} of {steps} steps",)
        steps = MAX_FALLBACK_STEPS
    last = 0.0
    for v in reversed(series.values):
        if v is not None and np.isfinite(v) and v >= 0:
            last = float(v)
            break
    point = np.full(steps, last)
    return build_forecast(series, point, (point, point, point), "last-value", notes, fallback=True)
