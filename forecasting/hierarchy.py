"""Bottom-up forecasts of a total from its children (per-client or per-tenant series).

A total (a model's request rate) is the sum of its clients' rates, and its level shifts
come from big clients switching on and off, some on a schedule. Forecasting the largest
children one by one (each with its own online mix, so a scheduled client gets seasonal
naive and a flat one last value), plus the remainder (total - their sum) as one more
series, and summing, sees those schedules; the total's own forecasters do not.

- `split_parts`: the `children` largest children (by mean over the history known
  before a cut) and the remainder, all with the parent's holes.
- `bottom_up_paths`: the sum of each part's online-mix paths (`forecasting.online`).
- `run_group`: an online Hedge of the parent's own mix and the bottom-up sum, with the
  parent's adaptive-conformal band: where the children do not help (ServeGen m-mid), it
  stays with the parent's mix. `splice` keeps it for the first hour of leads only and
  the parent's own mix beyond (`GROUP_MAX_LEAD_SECONDS`).
Strictly causal like the rest: at origin `o` only values before `o` of the parent and of
every child are used. Pure numpy: no I/O, no clock. `forecasting.group` wraps it for
live `LoadSeries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecasting.methods import PointMethod
from forecasting.online import OnlineRun, OnlineSettings, run_online

GROUP_CHILDREN = 20
"""Children forecast one by one; the rest are summed into the remainder. Chosen on
ServeGen training days only (fit on days 1-10, validate on days 11-12, 1 h horizon: 20
was best of 5 / 10 / 20 / 40 / 80 / all on m-large, within 0.2 % of the best on m-mid)."""


GROUP_MAX_LEAD_SECONDS = 3600.0
"""Leads up to this far ahead come from the Hedge with the bottom-up sum; later ones from
the parent's own mix. Chosen on the same validation: the Hedge beat the parent's own mix
at 10 min and 1 h on both totals, and lost to it at 1 day on both (m-large 0.786 vs
0.760, m-mid 1.232 vs 1.167 MASE)."""


@dataclass(frozen=True)
class Parts:
    """The series forecast one by one: `values[i]` for the child `children[i]`, and the
    remainder (parent - those children) last, whose index in `children` is -1."""

    values: tuple[np.ndarray, ...]
    children: tuple[int, ...]


def split_parts(
    parent: np.ndarray, children: np.ndarray, known_before: int, count: int = GROUP_CHILDREN
) -> Parts:
    """The `count` children with the highest mean before `known_before`, and the remainder.

    `children` is (n, len(parent)) on the parent's grid, NaN where missing. A window
    missing in the parent is missing in every part (a collection hole, not zero load).
    Raises ValueError when the shapes disagree.
    """
    if children.ndim != 2 or children.shape[1] != len(parent):
        raise ValueError(
            f"children have shape {children.shape}; expected (n, {len(parent)}), one row "
            "per child on the parent's grid"
        )
    hole = np.isnan(parent)
    kids = np.where(hole[None, :], np.nan, children)
    seen = kids[:, : max(1, known_before)]
    with np.errstate(invalid="ignore"):
        means = np.array([np.nanmean(r) if np.any(~np.isnan(r)) else -1.0 for r in seen])
    top = [int(i) for i in np.argsort(-means, kind="stable")[: max(0, count)]]
    chosen = kids[top] if top else np.zeros((0, len(parent)))
    remainder = np.maximum(parent - np.nansum(chosen, axis=0), 0.0)
    remainder = np.where(hole, np.nan, remainder)
    return Parts((*chosen, remainder), (*top, -1))


def mix_point(
    y: np.ndarray,
    walk: np.ndarray,
    base_known_before: int,
    steps: int,
    candidates: Sequence[PointMethod],
    settings: OnlineSettings,
) -> np.ndarray:
    """The online mix's point paths (origins, steps) of `candidates` on `y` over `walk`."""
    paths = np.stack([m.paths(y, walk, steps) for m in candidates])
    return run_online(paths, y, walk, base_known_before, settings).point


def bottom_up_paths(
    parts: Parts,
    walk: np.ndarray,
    base_known_before: int,
    steps: int,
    candidates: Sequence[Sequence[PointMethod]],
    settings: OnlineSettings,
) -> np.ndarray:
    """The sum over parts of each part's online-mix paths; `candidates[i]` for part i."""
    if len(candidates) != len(parts.values):
        raise ValueError(f"{len(candidates)} candidate lists for {len(parts.values)} parts")
    total = np.zeros((len(walk), steps))
    for y, methods in zip(parts.values, candidates, strict=True):
        total += mix_point(y, walk, base_known_before, steps, methods, settings)
    return total


@dataclass(frozen=True)
class GroupRun:
    """Over the walk's origins: the bottom-up sum, and the Hedge of it with the
    parent's own mix (point and calibrated band, states to continue from)."""

    bottom_up: np.ndarray
    combined: OnlineRun


def run_group(
    parent: np.ndarray,
    parent_point: np.ndarray,
    bottom_up: np.ndarray,
    walk: np.ndarray,
    base_known_before: int,
    settings: OnlineSettings,
) -> GroupRun:
    """Hedge (per lead) between the parent's own mix and the bottom-up sum, banded on
    the parent's realised values (the same online rules as every mix)."""
    run = run_online(np.stack([parent_point, bottom_up]), parent, walk, base_known_before, settings)
    return GroupRun(bottom_up, run)


def splice(
    group: OnlineRun, own: OnlineRun, lead_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point, p10, p50, p90 (origins, steps): the group run's first `lead_steps` leads,
    then the parent's own run's (each band calibrated by its own run)."""
    k = np.arange(group.point.shape[1]) < lead_steps
    out = (
        np.where(k, a, b)
        for a, b in zip(
            (group.point, group.p10, group.p50, group.p90),
            (own.point, own.p10, own.p50, own.p90),
            strict=True,
        )
    )
    point, p10, p50, p90 = out
    return point, p10, p50, p90
