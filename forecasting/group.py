"""A total's forecast from its own series and its children's (per-tenant series).

`forecast_group(parent, children, horizon)` is for callers that have per-client series
of a model's load: it replays, over the last `validation_seconds` of history, the
parent's own online mix, each part's mix (the largest children and the remainder,
`forecasting.hierarchy`) and the Hedge of the parent's mix with their sum (for the
first hour of leads; the parent's own mix beyond), and returns the last origin's
forecast with its adaptive-conformal band. The daemon's
`AutoForecaster` (one series at a time) is unchanged; this sits beside it.

Stateless: each call refits Prophet for the parent and every part (on threads) and
replays (about 0.5 s of Prophet per series plus ~1 s of replay for 20 children), so it
suits a planning cadence (hourly, daily), not every tick. Never raises: children that
do not fit the parent's grid, or a short or empty parent, give a flagged forecast
(the parent's own mix, or its last value) whose note says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from forecasting.auto import ProfileFit, _prophet_fit, grid_index
from forecasting.guards import (
    build_forecast,
    horizon_problem,
    horizon_steps,
    last_value_forecast,
)
from forecasting.hierarchy import (
    GROUP_CHILDREN,
    GROUP_MAX_LEAD_SECONDS,
    bottom_up_paths,
    run_group,
    splice,
    split_parts,
)
from forecasting.methods import SeasonalProfile, mix_candidates
from forecasting.online import OnlineSettings, run_online
from forecasting.series import ForecastInputError, prepare, to_array
from gpusteward.core.load import Forecast, LoadSeries

DAY = 86_400.0


@dataclass(frozen=True)
class GroupSettings:
    children: int = GROUP_CHILDREN  # forecast one by one; the rest form the remainder
    validation_seconds: float = 4 * DAY  # replay window (as the daemon's forecaster)
    min_history_seconds: float = 3 * 3600.0  # below this: the parent's last value, flagged
    prophet: bool = True  # Prophet-based candidates (needs 2 days of history)
    fit_workers: int = 4  # Prophet fits at once (threads)


def align_children(parent: LoadSeries, children: Sequence[LoadSeries]) -> np.ndarray:
    """(n, len(parent)) child rates on the parent's grid, NaN where a child has no value.

    Raises `ForecastInputError` naming the child when its step differs, its start is off
    the parent's grid, or it runs past the parent's end (a child must not see further).
    """
    step, n = parent.step_seconds, len(parent.values)
    first = grid_index(parent.start, step)
    out = np.full((len(children), n), np.nan)
    for i, child in enumerate(children):
        if child.step_seconds != step:
            raise ForecastInputError(
                f"child {child.key!r} has step {child.step_seconds:g} s, parent {parent.key!r} "
                f"{step:g} s. Fix: resample the children to the parent's step."
            )
        offset = (child.start - parent.start).total_seconds() / step
        at = grid_index(child.start, step) - first
        if abs(offset - at) > 1e-6:
            raise ForecastInputError(
                f"child {child.key!r} starts at {child.start.isoformat()}, off the parent's "
                f"{step:g} s grid. Fix: align the children's windows with the parent's."
            )
        if at + len(child.values) > n:
            raise ForecastInputError(
                f"child {child.key!r} ends at {child.end.isoformat()}, after the parent's end "
                f"{parent.end.isoformat()}. Fix: cut the children at the parent's end."
            )
        if at + len(child.values) <= 0:
            raise ForecastInputError(
                f"child {child.key!r} ends at {child.end.isoformat()}, before the parent's "
                f"start {parent.start.isoformat()}: it has no data in the parent's span. "
                "Fix: leave it out, or give its history over the parent's span."
            )
        values = to_array(child.values)
        values = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
        lo = max(0, at)
        out[i, lo : at + len(values)] = values[lo - at :]
    return out


def forecast_group(
    parent: LoadSeries,
    children: Sequence[LoadSeries],
    horizon_seconds: float,
    settings: GroupSettings | None = None,
    fit: ProfileFit = _prophet_fit,
) -> Forecast:
    """The parent's forecast, bottom-up from `children` where they help. Never raises."""
    cfg = settings or GroupSettings()
    steps = horizon_steps(horizon_seconds, parent.step_seconds)
    try:
        problem = horizon_problem(horizon_seconds, parent.step_seconds)
        if problem is not None:
            raise ForecastInputError(problem)
        return _forecast(parent, children, steps, cfg, fit)
    except Exception as e:  # bad input or a bug: a flagged baseline, never an exception
        why = str(e) if isinstance(e, ForecastInputError) else f"{type(e).__name__}: {e}"
        return last_value_forecast(parent, steps, (f"group forecast failed ({why}); last value",))


def _forecast(
    parent: LoadSeries,
    children: Sequence[LoadSeries],
    steps: int,
    cfg: GroupSettings,
    fit: ProfileFit,
) -> Forecast:
    step = parent.step_seconds
    prepared = prepare(parent)
    span = len(parent.values) * step
    if prepared.degenerate or span < cfg.min_history_seconds:
        note = f"parent history too short or all zero ({prepared.observed} observed points)"
        return last_value_forecast(parent, steps, (f"{note}; last value", *prepared.notes))
    y = prepared.values
    parts = split_parts(y, align_children(parent, children), len(y), cfg.children)
    profiles = _profiles((y, *parts.values), parent, steps, cfg, fit)
    settings = OnlineSettings.for_step(step)
    window = round(cfg.validation_seconds / step)
    walk = np.arange(max(1, len(y) - window - steps + 1), len(y) + 1)
    candidates = mix_candidates(profiles[0], step)
    paths = np.stack([m.paths(y, walk, steps) for m in candidates])
    own = run_online(paths, y, walk, len(y), settings)
    per_part = [mix_candidates(p, step) for p in profiles[1:]]
    bottom_up = bottom_up_paths(parts, walk, len(y), steps, per_part, settings)
    group = run_group(y, own.point, bottom_up, walk, len(y), settings).combined
    lead_steps = max(1, round(GROUP_MAX_LEAD_SECONDS / step))
    point, p10, p50, p90 = splice(group, own, lead_steps)
    weight = float(group.mix.last_weights[1, :lead_steps].mean())
    notes = (
        *prepared.notes,
        f"bottom-up from {len(parts.values) - 1} of {len(children)} children + remainder "
        f"for the first {min(lead_steps, steps)} lead(s), Hedge weight on it {weight:.2f}; "
        "the parent's own mix beyond",
    )
    bands = (p10[-1], p50[-1], p90[-1])
    return build_forecast(parent, point[-1], bands, "group/online-mix+bottom-up", notes)


def _profiles(
    arrays: Sequence[np.ndarray],
    parent: LoadSeries,
    steps: int,
    cfg: GroupSettings,
    fit: ProfileFit,
) -> list[SeasonalProfile | None]:
    """Prophet's profile of each array (None when off, too short, (nearly) all zero, or
    when the fit fails: that series' mix goes on with the baselines)."""
    step = parent.step_seconds
    if not cfg.prophet or len(parent.values) * step < 2 * DAY:
        return [None] * len(arrays)

    def one(y: np.ndarray) -> SeasonalProfile | None:
        if np.count_nonzero(np.nan_to_num(y) > 0) < 10:
            return None
        try:
            return fit(y, parent.start, step, steps + 1)
        except Exception:
            return None

    with ThreadPoolExecutor(max(1, min(cfg.fit_workers, len(arrays)))) as pool:
        return list(pool.map(one, arrays))
