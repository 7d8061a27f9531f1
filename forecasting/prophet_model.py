"""The one module that imports Prophet: fits a series and returns its seasonal profile.

Fits on log1p(rate) (a transform suited to positive rates: multiplicative seasonality,
never a negative forecast), with missing points dropped rather than read as zero load.
Daily seasonality when the history spans two days, weekly when it spans a week.
Long histories at a fine step are averaged to 10-minute windows before the fit (the
shape is the same; the fit is ten times cheaper). Prophet's and cmdstanpy's logging is
silenced here. Pure apart from the CPU: no I/O of ours (cmdstan writes temp files).
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timedelta

import numpy as np

from forecasting.methods import SeasonalProfile

FIT_STEP_SECONDS = 600.0
DAY, WEEK = 86_400.0, 7 * 86_400.0


def _quiet() -> None:
    """Prophet's and cmdstanpy's chatter off. Prophet's own code calls pandas APIs that
    pandas has deprecated; those warnings are silenced by a filter on Prophet's modules
    (idempotent), not by `warnings.catch_warnings`, which swaps the process's filters and
    so lets them through when fits run on several threads at once."""
    warnings.filterwarnings("ignore", module=r"prophet(\.|$)")
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        logger.handlers = [logging.NullHandler()]


def _coarsen(values: np.ndarray, step_seconds: float) -> tuple[np.ndarray, float]:
    factor = max(1, round(FIT_STEP_SECONDS / step_seconds))
    if factor == 1:
        return values, step_seconds
    n = len(values) // factor * factor
    blocks = values[len(values) - n :].reshape(-1, factor)
    # An all-missing block stays NaN (no `np.nanmean`: its warning for an empty block
    # would need `warnings.catch_warnings`, which is not thread-safe; see `_quiet`).
    seen = np.isfinite(blocks)
    count = seen.sum(axis=1)
    total = np.where(seen, blocks, 0.0).sum(axis=1)
    means = np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)
    return means, step_seconds * factor


def fit_profile(
    values: np.ndarray, start: datetime, step_seconds: float, ahead_steps: int
) -> SeasonalProfile:
    """Fit Prophet to `values` (NaN = missing) and evaluate it on the series' grid.

    The profile covers grid indices [0, len(values) + ahead_steps). Raises ValueError
    when fewer than two days of observed history are given.
    """
    _quiet()
    import pandas as pd
    from prophet import Prophet

    span = len(values) * step_seconds
    if span < 2 * DAY:
        raise ValueError(
            f"Prophet needs at least 2 days of history; got {span / 3600:.1f} h. "
            "Use a baseline for shorter series."
        )
    observed = int(np.count_nonzero(~np.isnan(values)))
    if observed < 10:
        raise ValueError(
            f"Prophet needs at least 10 observed points; got {observed} in "
            f"{span / 3600:.1f} h (the rest are gaps or collection holes). "
            "Use a baseline for so sparse a series."
        )
    coarse, coarse_step = _coarsen(values, step_seconds)
    offset = len(values) - len(coarse) * round(coarse_step / step_seconds)
    fit_start = start + timedelta(seconds=offset * step_seconds)
    ds = pd.date_range(fit_start, periods=len(coarse), freq=pd.Timedelta(seconds=coarse_step))
    keep = ~np.isnan(coarse)
    train = pd.DataFrame(
        {"ds": ds[keep].tz_localize(None), "y": np.log1p(np.maximum(coarse[keep], 0.0))}
    )
    model = Prophet(
        daily_seasonality=span >= 2 * DAY,
        weekly_seasonality=span >= WEEK,
        yearly_seasonality=False,
        uncertainty_samples=0,  # bands come from our own backtest residuals
    )
    grid = pd.date_range(
        start, periods=len(values) + ahead_steps, freq=pd.Timedelta(seconds=step_seconds)
    )
    model.fit(train)
    out = model.predict(pd.DataFrame({"ds": grid.tz_localize(None)}))
    seasonal = out["additive_terms"].to_numpy(dtype=np.float64)
    fitted = out["yhat"].to_numpy(dtype=np.float64)
    return SeasonalProfile(offset=0, seasonal=seasonal, fitted=fitted)
