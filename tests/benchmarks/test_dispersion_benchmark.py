"""benchmarks/dispersion.py: its truth is the trace's own cv, so on a steady series both
estimators score near 1, and on an on/off batch client the pairs' median scores under
the variogram."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.helpers import benchmark_module


def _dispersion() -> ModuleType:
    return benchmark_module("dispersion")


def _series(group: str, name: str) -> object:
    found = [s for s in _dispersion().series() if s.group == group and s.name == name]
    assert len(found) == 1
    return found[0]


def test_a_steady_series_scores_near_one_with_either_estimator() -> None:
    row = _dispersion().measure(_series("servegen-14d", "serving/m-large"), 400)
    for kind in ("median-pairs", "variogram"):
        assert row.ratios[kind][1] == pytest.approx(1.0, abs=0.15)


def test_an_on_off_client_is_under_read_by_the_pairs_median_only() -> None:
    row = _dispersion().measure(_series("zoo", "serving/classify-14b-v4"), 720)
    assert row.ratios["median-pairs"][1] < 0.5
    assert row.ratios["variogram"][1] > 0.7


def test_every_suite_half_is_scaled_to_each_models_peak() -> None:
    """As `scaling.py --suite` scales it: the half's busiest window at the model's."""
    mod = _dispersion()
    series = mod.series()
    base = {s.name: s.trace for s in series if s.group == "servegen-14d"}
    halves = [s for s in series if s.group in mod.HALVES]
    assert len(halves) == 8
    for s in halves:
        peak = mod._peak(base[s.name]) * base[s.name].scale
        assert mod._peak(s.trace) * s.trace.scale == pytest.approx(peak)
        assert s.trace.file != base[s.name].file


def test_a_groups_figure_is_its_series_medians_weighted_by_requests() -> None:
    mod = _dispersion()
    row = mod.Row
    rows = [
        row("zoo", "a", 1.0, {"variogram": [0.1, 0.5, 0.9]}),
        row("zoo", "b", 3.0, {"variogram": [0.8, 1.0, 1.2]}),
        row("other", "c", 100.0, {"variogram": [0.0, 9.0, 9.0]}),
    ]
    assert mod.group_median(rows, "zoo", "variogram") == 1.0  # b carries 3 of 4 requests
    assert mod.group_median(rows, "zoo", "median-pairs") is None
