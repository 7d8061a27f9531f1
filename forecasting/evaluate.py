"""One series' rolling-origin backtest: every forecaster and the daemon's online mix.

Train on `y[:train]`, test on the rest: each origin in the test period forecasts the
next `steps` points, scored over the whole path. Prophet is fitted once, on training
data only. Every forecaster walks forward from a warm-up start (`warmup_days` before the
test) exactly as the daemon does: its 80 % band starts from its residual quantiles on
targets inside the warm-up (all training data) and is then recalibrated online from
realised targets only; the online mix learns its weights the same way. At a test
origin `o` nothing at or after `o` has been used, so every test figure is out of sample.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from forecasting.backtest import (
    SCALE_FLOOR,
    Scores,
    origins_between,
    score_paths,
    seasonal_scale,
    targets,
)
from forecasting.hierarchy import (
    GROUP_MAX_LEAD_SECONDS,
    bottom_up_paths,
    run_group,
    splice,
    split_parts,
)
from forecasting.methods import (
    PointMethod,
    ProphetPlain,
    SeasonalProfile,
    baseline_methods,
    mix_candidates,
    prophet_methods,
)
from forecasting.online import OnlineRun, OnlineSettings, calibrate, run_online
from forecasting.series import mark_holes

DAY = 86_400.0
BOTTOM_UP = "bottom-up-from-clients"
GROUPED = "online-mix+bottom-up"


@dataclass(frozen=True)
class SeriesReport:
    key: str
    steps: int
    scores: tuple[Scores, ...]  # every forecaster, on the test period
    chosen: Scores  # the daemon's forecaster (the online mix), on the test period
    prophet_based: tuple[str, ...]
    baselines: tuple[str, ...]
    mix_weights: tuple[tuple[str, float], ...]  # mean weight per candidate on test origins
    fit_seconds: float  # Prophet fit (0 when not used)
    predict_seconds: float  # every forecaster's test paths and bands
    notes: tuple[str, ...]
    # per test origin, each row's mean absolute error over its path (NaN targets
    # skipped), keyed like `scores` plus "chosen": for paired tests between rows
    origin_losses: dict[str, np.ndarray] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def by_name(self, name: str) -> Scores:
        return next(s for s in self.scores if s.method == name)

    def best_baseline(self) -> Scores:
        return min((s for s in self.scores if s.method in self.baselines), key=lambda s: s.mase)

    def worse_than_best_baseline_p(self) -> float:
        """One-sided p-value that the chosen forecaster's per-origin error is higher than
        the best baseline's (Diebold-Mariano; see `diebold_mariano_worse`)."""
        best = self.best_baseline().method
        return diebold_mariano_worse(
            self.origin_losses["chosen"], self.origin_losses[best], self.steps
        )

    def prophet_weight(self) -> float:
        """The mix's mean weight on Prophet-based candidates over the test origins."""
        return sum(w for name, w in self.mix_weights if name in self.prophet_based)


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
    warmup_days: float = 4.0,
    settings: OnlineSettings | None = None,
    children: np.ndarray | None = None,
) -> tuple[SeriesReport, TestPaths]:
    """Backtest every forecaster on one series; raises ValueError for unusable input.

    With `children` (n, len(values): the series' clients on its grid), two more rows:
    the bottom-up sum of the largest children's mixes and the remainder's
    (`forecasting.hierarchy`), and the Hedge of the series' own mix with it, which is
    then the chosen forecaster for leads up to `GROUP_MAX_LEAD_SECONDS` (the series' own
    mix beyond). Children are chosen and fitted on training data only."""
    if train < 2 or train >= len(values):
        raise ValueError(
            f"{key}: train={train} of {len(values)} points; expected 2 <= train < length"
        )
    clean = np.where(np.isfinite(values) & (values >= 0), values, np.nan)
    # causal: a window is a hole or not as the walk sees it arriving, not by how long
    # its run of zeros turns out to be
    y, holes = mark_holes(clean.astype(np.float64), step_seconds, causal=True)
    notes: tuple[str, ...] = (f"{holes} zero window(s) treated as holes",) if holes else ()
    known = y[:train][np.isfinite(y[:train])]
    if not np.any(known > 0):
        raise ValueError(
            f"{key}: no load above zero in the {train} training windows (all zero or "
            "missing), so there is nothing to forecast from. Fix: give a trace with traffic "
            "before its test period, or a shorter test period."
        )
    per_day = max(1, round(DAY / step_seconds))
    settings = settings or OnlineSettings.for_step(step_seconds)
    scale = seasonal_scale(y[:train], per_day)
    if scale <= SCALE_FLOOR:  # seasonal naive makes no error at all
        scale = float(known.mean())
        how = "constant" if np.ptp(known) <= SCALE_FLOOR else "the same every day"
        notes += (
            f"the training load is {how}, so seasonal naive makes no error: MASE and "
            "pinball are scaled by its mean instead",
        )
    use_prophet = prophet and train * step_seconds >= 2 * DAY
    if prophet and not use_prophet:
        notes += ("Prophet needs 2 days of training history: its rows are left out",)
    if train <= per_day:
        notes += (
            "training history shorter than a day: the seasonal-naive and shape forecasters "
            "repeat the last value, and MASE is scaled by the one-step naive forecast",
        )
    elif train < 7 * per_day:
        notes += ("seasonal-naive-week repeats the last value where a week back is missing",)
    t0 = time.perf_counter()
    profile = None
    if use_prophet:
        try:
            profile = _profile(y, start, step_seconds, train, steps, parent=True)
        except ValueError as e:  # too sparse once holes are taken out: the baselines go on
            use_prophet = False
            notes += (f"Prophet's rows are left out: {e}",)
    parts = None
    if children is not None:
        kids = np.asarray(children, dtype=np.float64)
        parts = split_parts(y, np.where(np.isfinite(kids) & (kids >= 0), kids, np.nan), train)
    part_profiles = [
        _profile(p, start, step_seconds, train, steps) if use_prophet else None
        for p in (parts.values if parts is not None else ())
    ]
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    candidates = mix_candidates(profile, step_seconds)
    reference: list[PointMethod] = [ProphetPlain(profile)] if profile is not None else []
    first = max(1, train - round(warmup_days * per_day) - steps + 1)
    walk = np.arange(first, len(y) - steps + 1)  # consecutive origins: warm-up, then test
    test = origins_between(train, len(y), steps)
    in_test = walk >= train
    actual = targets(y, test, steps)
    paths = {m.name: m.paths(y, walk, steps) for m in (*candidates, *reference)}
    scores = []
    losses: dict[str, np.ndarray] = {}
    for name, point in paths.items():
        lo, mid, hi, _ = calibrate(point, y, walk, train, settings)
        bands = (lo[in_test], mid[in_test], hi[in_test])
        scores.append(score_paths(name, point[in_test], actual, scale, bands))
        losses[name] = _origin_loss(point[in_test], actual)
    names = [m.name for m in candidates]
    run = run_online(np.stack([paths[n] for n in names]), y, walk, train, settings)
    bands = (run.p10[in_test], run.p50[in_test], run.p90[in_test])
    chosen = score_paths("online-mix", run.point[in_test], actual, scale, bands)
    scores.append(chosen)
    losses["online-mix"] = losses["chosen"] = _origin_loss(run.point[in_test], actual)
    if parts is not None:
        per_part = [mix_candidates(p, step_seconds) for p in part_profiles]
        bu = bottom_up_paths(parts, walk, train, steps, per_part, settings)
        lo, mid, hi, _ = calibrate(bu, y, walk, train, settings)
        bands = (lo[in_test], mid[in_test], hi[in_test])
        scores.append(score_paths(BOTTOM_UP, bu[in_test], actual, scale, bands))
        losses[BOTTOM_UP] = _origin_loss(bu[in_test], actual)
        group = run_group(y, run.point, bu, walk, train, settings).combined
        lead_steps = max(1, round(GROUP_MAX_LEAD_SECONDS / step_seconds))
        point, p10, p50, p90 = splice(group, run, lead_steps)
        bands = (p10[in_test], p50[in_test], p90[in_test])
        chosen = score_paths(GROUPED, point[in_test], actual, scale, bands)
        scores.append(chosen)
        losses[GROUPED] = losses["chosen"] = _origin_loss(point[in_test], actual)
        notes += (
            f"bottom-up from {len(parts.values) - 1} clients + remainder, "
            f"leads up to {lead_steps}; the series' own mix beyond",
        )
        run = dataclasses.replace(run, point=point, p10=p10, p90=p90)
    test_weights = tuple(zip(names, _test_weights(run, in_test).tolist(), strict=True))
    predict_seconds = time.perf_counter() - t0
    baselines = tuple(m.name for m in baseline_methods(step_seconds))
    prophet_names = [m.name for m in prophet_methods(profile, step_seconds)] if profile else []
    prophet_names += [m.name for m in reference]
    if profile is not None:
        prophet_names.append("online-mix")  # it weighs the Prophet-based candidates
    report = SeriesReport(
        key,
        steps,
        tuple(scores),
        Scores(f"chosen: {chosen.method}", *_fields(chosen)),
        tuple(prophet_names),
        baselines,
        test_weights,
        fit_seconds,
        predict_seconds,
        notes,
        {name: loss / scale for name, loss in losses.items()},
    )
    last = (run.point[in_test], run.p10[in_test], run.p90[in_test])
    paths_out = TestPaths(test, *(a[:, -1] for a in last))
    return report, paths_out


def diebold_mariano_worse(loss_a: np.ndarray, loss_b: np.ndarray, steps: int) -> float:
    """One-sided p-value for "a's expected loss is higher than b's" (Diebold & Mariano
    1995) from paired per-origin losses; NaN when there are fewer than 10 origins per
    path length (a 1-day horizon on 2 test days): neighbouring origins share all but one
    target of their `steps`-long paths, so such a sample holds too few independent paths
    to test (a simulation gave 36 % false alarms at 5 % there).

    The variance of the mean difference is Newey-West's (Bartlett weights, bandwidth
    2 x `steps` plus the usual 4 (T/100)^(2/9) lags), normal approximation. In
    simulations of equally good forecasters with streaky (AR(1), phi 0.5-0.8) errors it
    raises 6-13 % false alarms at a 5 % level: it overstates, never hides, how often a
    forecaster is significantly worse."""
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)
    ok = np.isfinite(d)
    n = int(ok.sum())
    if n < 2 or n < 10 * steps:
        return float("nan")
    mean = float(d[ok].mean())
    # a missing origin adds nothing, but keeps its place: lags stay lags in time
    centred = np.where(ok, d - mean, 0.0)
    lags = min(len(d) - 1, 2 * steps + math.floor(4 * (n / 100) ** (2 / 9)))
    var = float(centred @ centred) / n
    for k in range(1, lags + 1):
        var += 2 * (1 - k / (lags + 1)) * float(centred[k:] @ centred[:-k]) / n
    if var <= 0:  # the same difference at every origin
        return 0.0 if mean > 0 else (1.0 if mean < 0 else 0.5)
    stat = mean / math.sqrt(var / n)
    return 0.5 * math.erfc(stat / math.sqrt(2))


def _profile(
    y: np.ndarray,
    start: datetime,
    step_seconds: float,
    train: int,
    steps: int,
    *,
    parent: bool = False,
) -> SeasonalProfile | None:
    """Prophet's profile fitted on `y[:train]`. A child that is (nearly) all zero in
    training gets None: its mix goes on with the baselines alone."""
    from forecasting.prophet_model import fit_profile

    if not parent and np.count_nonzero(np.nan_to_num(y[:train]) > 0) < 10:
        return None
    return fit_profile(y[:train], start, step_seconds, len(y) - train + steps)


def _origin_loss(point: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Mean absolute error over each origin's path; NaN where every target is a hole."""
    err = np.abs(actual - point)
    ok = np.isfinite(err)
    count = ok.sum(axis=1)
    total = np.where(ok, err, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _fields(s: Scores) -> tuple[float, float, float, float, int]:
    return s.mase, s.smape, s.pinball, s.coverage, s.targets


def _test_weights(run: OnlineRun, in_test: np.ndarray) -> np.ndarray:
    return np.asarray(run.weights_per_origin[:, in_test].mean(axis=1))
