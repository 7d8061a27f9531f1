"""Bottom-up forecasts of a total from its children: the sum is the sum of the parts'
forecasts, nothing after an origin is used, and it sees what the total alone cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.evaluate import BOTTOM_UP, GROUPED, evaluate_series
from forecasting.group import GroupSettings, forecast_group
from forecasting.hierarchy import bottom_up_paths, mix_point, run_group, splice, split_parts
from forecasting.methods import (
    LastValue,
    PointMethod,
    SeasonalNaive,
    SeasonalProfile,
    baseline_methods,
    mix_candidates,
)
from forecasting.online import OnlineSettings, run_online
from gpusteward.core.load import LoadSeries

DAILY = 144
STEP = 600.0
START = datetime(2026, 1, 5, tzinfo=UTC)
SETTINGS = OnlineSettings.for_step(STEP)


def _scheduled_and_drifting(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(parent, children): a client on 08:00-12:00 every day, one that random-walks in
    level shifts, and small noisy ones; the parent is their exact sum."""
    rng = np.random.default_rng(seed)
    n = days * DAILY
    hour = (np.arange(n) % DAILY) / 6
    scheduled = np.where((hour >= 8) & (hour < 12), 100.0, 0.0) + rng.uniform(0, 1, n)
    jumps = np.where(rng.uniform(size=n) < 0.01, rng.normal(0, 30, n), 0.0)
    drifting = np.maximum(80 + np.cumsum(jumps), 5.0) + rng.normal(0, 1, n)
    small = rng.uniform(0, 3, (5, n))
    children = np.vstack([scheduled, drifting, small])
    return children.sum(axis=0), children


def test_the_parts_are_the_largest_children_by_past_mean_and_the_remainder() -> None:
    parent = np.array([10.0, 10.0, 10.0, 40.0, 40.0, np.nan])
    children = np.array(
        [
            [1.0, 1.0, 1.0, 30.0, 30.0, 30.0],  # large only after the cut: not chosen
            [5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
            [4.0, 4.0, 4.0, 5.0, 5.0, 5.0],
        ]
    )
    parts = split_parts(parent, children, known_before=3, count=2)
    assert parts.children == (1, 2, -1)
    assert np.allclose(parts.values[2][:5], [1.0, 1.0, 1.0, 30.0, 30.0])
    assert all(np.isnan(p[5]) for p in parts.values)  # the parent's hole is every part's


def test_children_off_the_parents_grid_are_refused_with_the_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \(n, 4\)"):
        split_parts(np.ones(4), np.ones((2, 3)), known_before=2)


def test_bottom_up_is_the_sum_of_each_parts_own_mix() -> None:
    parent, children = _scheduled_and_drifting(days=4, seed=1)
    parts = split_parts(parent, children, known_before=3 * DAILY, count=2)
    walk = np.arange(2 * DAILY, 4 * DAILY - 6 + 1)
    methods = [baseline_methods(STEP)] * len(parts.values)
    total = bottom_up_paths(parts, walk, 3 * DAILY, 6, methods, SETTINGS)
    each = [
        mix_point(y, walk, 3 * DAILY, 6, m, SETTINGS)
        for y, m in zip(parts.values, methods, strict=True)
    ]
    assert np.allclose(total, np.sum(each, axis=0))


def test_bottom_up_of_last_values_is_the_parents_last_value() -> None:
    parent, children = _scheduled_and_drifting(days=3, seed=2)
    parts = split_parts(parent, children, known_before=2 * DAILY, count=3)
    walk = np.arange(DAILY, 3 * DAILY - 6 + 1)
    total = bottom_up_paths(parts, walk, 2 * DAILY, 6, [[LastValue()]] * 4, SETTINGS)
    assert np.allclose(total, LastValue().paths(parent, walk, 6))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=DAILY + 10, max_value=3 * DAILY - 10), st.integers(0, 2**31))
def test_nothing_after_an_origin_changes_its_bottom_up_or_combined_forecast(
    cut: int, seed: int
) -> None:
    parent, children = _scheduled_and_drifting(days=3, seed=seed)
    rng = np.random.default_rng(seed)
    later_children = children.copy()
    later_children[:, cut:] = rng.uniform(200, 900, (len(children), 3 * DAILY - cut))
    later_parent = later_children.sum(axis=0)
    walk = np.arange(DAILY, 3 * DAILY - 6 + 1)
    runs = []
    for p, c in ((parent, children), (later_parent, later_children)):
        parts = split_parts(p, c, known_before=DAILY, count=2)
        pair: list[PointMethod] = [LastValue(), SeasonalNaive(DAILY)]
        methods = [pair] * len(parts.values)
        bu = bottom_up_paths(parts, walk, DAILY, 6, methods, SETTINGS)
        own = mix_point(p, walk, DAILY, 6, [LastValue()], SETTINGS)
        runs.append(run_group(p, own, bu, walk, DAILY, SETTINGS))
    upto = walk <= cut
    assert np.allclose(runs[0].bottom_up[upto], runs[1].bottom_up[upto])
    for field in ("point", "p10", "p90"):
        a, b = getattr(runs[0].combined, field), getattr(runs[1].combined, field)
        assert np.allclose(a[upto], b[upto]), field


def test_a_scheduled_child_makes_bottom_up_beat_the_totals_own_mix() -> None:
    """The total's level shifts hide the schedule from its own candidates; the scheduled
    child's mix finds it (seasonal naive), the drifting child's keeps last value."""
    parent, children = _scheduled_and_drifting(days=8, seed=3)
    train, steps = 6 * DAILY, 6
    walk = np.arange(2 * DAILY, len(parent) - steps + 1)
    test = walk >= train
    actual = parent[walk[test][:, None] + np.arange(steps)[None, :]]
    parts = split_parts(parent, children, known_before=train, count=2)
    cands = mix_candidates(None, STEP)
    bu = bottom_up_paths(parts, walk, train, steps, [cands] * 3, SETTINGS)
    own = mix_point(parent, walk, train, steps, cands, SETTINGS)
    combined = run_group(parent, own, bu, walk, train, SETTINGS).combined.point
    mae = {k: float(np.mean(np.abs(v[test] - actual))) for k, v in (("own", own), ("bu", bu))}
    assert mae["bu"] < 0.8 * mae["own"], mae
    assert float(np.mean(np.abs(combined[test] - actual))) < mae["own"]


def test_splice_takes_the_group_for_the_first_leads_and_the_parents_mix_after() -> None:
    parent, children = _scheduled_and_drifting(days=3, seed=9)
    walk = np.arange(DAILY, 3 * DAILY - 12 + 1)
    own = run_online(
        np.stack([m.paths(parent, walk, 12) for m in baseline_methods(STEP)]),
        parent,
        walk,
        2 * DAILY,
        SETTINGS,
    )
    parts = split_parts(parent, children, known_before=2 * DAILY, count=2)
    bu = bottom_up_paths(parts, walk, 2 * DAILY, 12, [[SeasonalNaive(DAILY)]] * 3, SETTINGS)
    group = run_group(parent, own.point, bu, walk, 2 * DAILY, SETTINGS).combined
    point, p10, _, p90 = splice(group, own, 6)
    assert np.array_equal(point[:, :6], group.point[:, :6])
    assert np.array_equal(point[:, 6:], own.point[:, 6:])
    assert np.array_equal(p90[:, 6:], own.p90[:, 6:]) and np.array_equal(
        p10[:, :6], group.p10[:, :6]
    )
    assert not np.allclose(group.point[:, 6:], own.point[:, 6:])  # the splice matters


def test_evaluate_series_with_children_chooses_the_hedge_and_scores_bottom_up() -> None:
    parent, children = _scheduled_and_drifting(days=8, seed=4)
    report, _ = evaluate_series(
        "total", parent, START, STEP, 6 * DAILY, 6, prophet=False, children=children
    )
    assert report.chosen.method == f"chosen: {GROUPED}"
    assert report.by_name(BOTTOM_UP).targets == report.by_name("last-value").targets
    assert report.chosen.mase < report.by_name("online-mix").mase


def _series(key: str, values: np.ndarray, start: datetime = START) -> LoadSeries:
    return LoadSeries(key=key, start=start, step_seconds=STEP, values=tuple(values.tolist()))


def test_forecast_group_gives_the_horizon_with_a_band_and_says_it_is_bottom_up() -> None:
    parent, children = _scheduled_and_drifting(days=5, seed=5)
    kids = [_series(f"c{i}", c) for i, c in enumerate(children)]
    out = forecast_group(_series("m", parent), kids, 3600.0, GroupSettings(prophet=False))
    assert not out.fallback
    assert len(out.points) == 6
    assert out.made_at == START + timedelta(seconds=STEP * len(parent))
    assert all(p.p10 <= p.p50 <= p.p90 for p in out.points)
    assert any("bottom-up from 7 of 7 children" in n for n in out.notes)


def test_forecast_group_predicts_the_scheduled_clients_switch_on() -> None:
    parent, children = _scheduled_and_drifting(days=6, seed=6)
    cut = 5 * DAILY + 7 * 6 + 3  # 07:30 on day 6: the client switches on at 08:00
    kids = [_series(f"c{i}", c[:cut]) for i, c in enumerate(children)]
    out = forecast_group(_series("m", parent[:cut]), kids, 3600.0, GroupSettings(prophet=False))
    before, after = out.points[1].point, out.points[4].point  # 07:50 and 08:20
    assert after - before > 50.0, (before, after)


def test_a_child_on_another_step_gives_a_flagged_last_value_naming_it() -> None:
    parent, _ = _scheduled_and_drifting(days=2, seed=7)
    odd = LoadSeries(key="odd", start=START, step_seconds=60.0, values=(1.0,) * 10)
    out = forecast_group(_series("m", parent), [odd], 3600.0, GroupSettings(prophet=False))
    assert out.fallback
    assert "'odd'" in out.notes[0] and "step" in out.notes[0]


def test_a_child_running_past_the_parents_end_is_refused() -> None:
    parent, children = _scheduled_and_drifting(days=2, seed=8)
    late = _series("late", children[0], start=START + timedelta(seconds=STEP))
    out = forecast_group(_series("m", parent), [late], 3600.0, GroupSettings(prophet=False))
    assert out.fallback and "after the parent's end" in out.notes[0]


class _CountingFit:
    """A flat seasonal profile; records the length of every array it was asked to fit."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail

    def __call__(
        self, values: np.ndarray, start: datetime, step: float, ahead: int
    ) -> SeasonalProfile:
        self.calls.append(len(values))
        if self.fail:
            raise RuntimeError("stan exploded")
        flat = np.zeros(len(values) + ahead)
        return SeasonalProfile(0, flat, flat + float(np.nanmean(np.log1p(values))))


def test_forecast_group_fits_a_profile_for_the_parent_and_every_part() -> None:
    parent, children = _scheduled_and_drifting(days=3, seed=10)
    kids = [_series(f"c{i}", c) for i, c in enumerate(children)]
    fit = _CountingFit()
    out = forecast_group(_series("m", parent), kids, 3600.0, GroupSettings(children=3), fit)
    assert not out.fallback
    assert fit.calls == [len(parent)] * 5  # the parent, 3 children, the remainder


def test_failing_profile_fits_leave_the_baselines_and_no_fallback() -> None:
    parent, children = _scheduled_and_drifting(days=3, seed=11)
    kids = [_series(f"c{i}", c) for i, c in enumerate(children)]
    out = forecast_group(_series("m", parent), kids, 3600.0, fit=_CountingFit(fail=True))
    assert not out.fallback and all(np.isfinite(p.point) for p in out.points)


def test_without_children_the_group_forecast_is_the_parents_own() -> None:
    """No children: the only part is the remainder, the parent itself, so the Hedge
    mixes two equal paths and the forecast is the parent's own mix."""
    parent, _ = _scheduled_and_drifting(days=3, seed=12)
    walk = np.arange(1, 3 * DAILY + 1)  # the replay covers all 3 days (window: 4 days)
    own = mix_point(parent, walk, 3 * DAILY, 6, mix_candidates(None, STEP), SETTINGS)
    out = forecast_group(_series("m", parent), [], 3600.0, GroupSettings(prophet=False))
    assert np.allclose([p.point for p in out.points], own[-1])
