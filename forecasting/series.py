"""Turning a `LoadSeries` into a clean numeric array, and flagging what is wrong with it.

Gaps (`None`), NaN, infinities and negative rates become missing values (NaN), never
zero load. A zero rate inside a series whose level makes an empty window practically
impossible (ServeGen m-mid's 84 zero windows are collection holes) is also a hole.
`series_from_points` builds a `LoadSeries` from timestamped values and rejects
out-of-order or duplicate timestamps with an error that names them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gpusteward.core.errors import InputError
from gpusteward.core.load import LoadSeries

HOLE_MIN_EXPECTED_REQUESTS = 30.0
"""A zero window is a hole when the series' typical level would put at least this many
requests in it (the chance of an honest empty window is then below e^-30 for Poisson)."""

MAX_HOLE_SECONDS = 6 * 3600.0
"""A collection hole lasts at most this long (ServeGen m-mid's longest: 3 h 50 min). A
forecast series that has ended in a longer run of zeros has really stopped, and one that
has ended in a longer run without data has a stale feed (`forecasting.auto`)."""

MIN_POINTS = 3
"""Fewer observed points than this and only the last-value baseline is meaningful."""


class ForecastInputError(InputError):
    """A load series cannot be forecast as given; the message names the value and the fix."""


@dataclass(frozen=True)
class PreparedSeries:
    """A series as floats: `values[i]` is the rate at `start + i * step`, NaN where missing."""

    key: str
    start: datetime
    step_seconds: float
    values: np.ndarray
    notes: tuple[str, ...]

    @property
    def observed(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.values)))

    @property
    def degenerate(self) -> bool:
        """Too little data, or nothing but zeros: only a flagged baseline makes sense."""
        obs = self.values[~np.isnan(self.values)]
        return len(obs) < MIN_POINTS or not np.any(obs > 0)


def to_array(values: Sequence[float | None]) -> np.ndarray:
    """`None` -> NaN, as float64 (NaN and inf pass through; `prepare` cleans them)."""
    return np.array(values, dtype=np.float64)


def zeros_are_holes(values: np.ndarray, step_seconds: float) -> bool:
    """Whether the series' typical level makes an honest zero window practically impossible."""
    positive = values[values > 0]
    if len(positive) == 0:
        return False
    return float(np.median(positive)) * step_seconds >= HOLE_MIN_EXPECTED_REQUESTS


def longest_hole(step_seconds: float) -> int:
    """Steps in the longest collection hole (`MAX_HOLE_SECONDS`), at least one."""
    return max(1, math.floor(MAX_HOLE_SECONDS / step_seconds + 1e-9))


def quiet_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of zeros and missing (NaN, infinite, negative) values."""
    quiet = (values == 0) | ~(np.isfinite(values) & (values >= 0))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def short_zero_runs(values: np.ndarray, step_seconds: float, *, causal: bool = False) -> np.ndarray:
    """Where `values` holds a zero in a quiet run (zeros and missing windows: a missed
    scrape does not split a night in two) of at most `MAX_HOLE_SECONDS`: a collection hole,
    when the level says zeros are holes. A longer run is idle time, a client that stopped
    sending for a night; a run at either end counts only what it holds. `causal`: as a
    forecaster walking forward sees each window when it arrives, so the first
    `MAX_HOLE_SECONDS` of a longer run are holes too (what a backtest must score)."""
    zero = values == 0
    longest = longest_hole(step_seconds)
    mask = np.zeros(len(values), dtype=bool)
    for a, b in quiet_runs(values):
        if b - a <= longest:
            mask[a:b] = zero[a:b]
        elif causal:
            mask[a : a + longest] = zero[a : a + longest]
    return mask


def mark_holes(
    values: np.ndarray, step_seconds: float, *, causal: bool = False
) -> tuple[np.ndarray, int]:
    """Zeros that cannot be real given the series' level become NaN, in quiet runs of up to
    `MAX_HOLE_SECONDS` (`short_zero_runs`, also for `causal`); returns (copy, count)."""
    out = values.copy()
    if not zeros_are_holes(out, step_seconds):
        return out, 0
    holes = short_zero_runs(out, step_seconds, causal=causal)
    out[holes] = np.nan
    return out, int(np.count_nonzero(holes))


def prepare(series: LoadSeries, *, zeros_as_holes: bool = True) -> PreparedSeries:
    """Clean a series for forecasting. Never raises on bad values; notes say what was done."""
    values = to_array(series.values)
    notes: list[str] = []
    bad = ~np.isfinite(values) & ~np.isnan(values)
    negative = values < 0
    nans_given = int(np.count_nonzero(np.isnan(values)))
    if np.any(bad) or np.any(negative):
        notes.append(
            f"{int(np.count_nonzero(bad | negative))} infinite or negative rate(s) treated as "
            "missing"
        )
        values[bad | negative] = np.nan
    if nans_given:
        notes.append(f"{nans_given} missing point(s) (gaps or NaN) treated as missing, not zero")
    if zeros_as_holes:
        values, holes = mark_holes(values, series.step_seconds)
        if holes:
            notes.append(f"{holes} zero window(s) treated as collection holes")
    values.setflags(write=False)
    return PreparedSeries(series.key, series.start, series.step_seconds, values, tuple(notes))


def series_from_points(
    key: str,
    timestamps: Sequence[datetime],
    values: Sequence[float | None],
    step_seconds: float,
) -> LoadSeries:
    """A fixed-step `LoadSeries` from timestamped rates; missing steps become gaps.

    Raises `ForecastInputError` for an empty input, naive or out-of-order timestamps,
    or a timestamp off the step grid.
    """
    if len(timestamps) != len(values):
        raise ForecastInputError(
            f"series {key!r}: {len(timestamps)} timestamps but {len(values)} values. "
            "Fix: give one value per timestamp."
        )
    if not timestamps:
        raise ForecastInputError(
            f"series {key!r} has no data points. Fix: give at least one (timestamp, rate)."
        )
    if not (math.isfinite(step_seconds) and 0 < step_seconds <= 7 * 86400):
        raise ForecastInputError(
            f"series {key!r}: step_seconds={step_seconds}; expected a number of seconds "
            "above 0 and at most a week."
        )
    start = timestamps[0]
    slots: list[float | None] = []
    previous = None
    for i, (at, value) in enumerate(zip(timestamps, values, strict=True)):
        if at.tzinfo is None:
            raise ForecastInputError(
                f"series {key!r}: timestamp #{i} {at.isoformat()} has no time zone. "
                "Fix: give tz-aware timestamps (e.g. +00:00)."
            )
        if previous is not None and at <= previous:
            raise ForecastInputError(
                f"series {key!r}: timestamp #{i} {at.isoformat()} is not after #{i - 1} "
                f"{previous.isoformat()}. Fix: sort the points by time and drop duplicates."
            )
        offset = (at - start).total_seconds() / step_seconds
        slot = round(offset)
        if not math.isclose(offset, slot, abs_tol=1e-6):
            raise ForecastInputError(
                f"series {key!r}: timestamp #{i} {at.isoformat()} is off the {step_seconds:g} s "
                "grid. Fix: resample to a fixed step first."
            )
        slots.extend([None] * (slot - len(slots)))
        slots.append(value)
        previous = at
    return LoadSeries(key=key, start=start, step_seconds=step_seconds, values=tuple(slots))
