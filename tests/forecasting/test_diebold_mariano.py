"""The paired test the forecast benchmark reports beside "worse than the best baseline"."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from forecasting.evaluate import diebold_mariano_worse, evaluate_series

STEP = 600.0
DAILY = 144


def _overlapping(rng: np.random.Generator, n: int, steps: int) -> np.ndarray:
    """Loss differences of paths `steps` long: a moving sum of i.i.d. shocks, so
    neighbouring origins share steps - 1 of them (the path overlap of a backtest)."""
    shocks = rng.normal(size=n + steps - 1)
    return np.convolve(shocks, np.ones(steps) / steps, mode="valid")


@pytest.mark.parametrize("steps", [1, 6])
def test_false_alarms_stay_near_the_level_when_both_are_equally_good(steps: int) -> None:
    rng = np.random.default_rng(7)
    p = [diebold_mariano_worse(_overlapping(rng, 288, steps), np.zeros(288), steps)]
    p += [
        diebold_mariano_worse(_overlapping(rng, 288, steps), np.zeros(288), steps)
        for _ in range(399)
    ]
    rate = float(np.mean(np.array(p) < 0.05))
    assert 0.02 <= rate <= 0.10, rate  # a naive i.i.d. variance gives ~0.25 at steps=6


def test_a_plain_lead_is_significant_and_the_other_way_round_is_not() -> None:
    rng = np.random.default_rng(8)
    base = rng.gamma(2.0, size=288)
    worse = base + 0.3 + rng.normal(scale=0.2, size=288)
    assert diebold_mariano_worse(worse, base, 1) < 1e-6
    assert diebold_mariano_worse(base, worse, 1) > 0.999


def test_degenerate_inputs_give_an_answer_not_an_error() -> None:
    assert np.isnan(diebold_mariano_worse(np.array([1.0]), np.array([0.0]), 1))
    # a 1-day path on 2 test days: 145 origins of 144 targets each, too few to test
    assert np.isnan(diebold_mariano_worse(np.arange(145.0), np.zeros(145), 144))
    same = np.ones(50)
    assert diebold_mariano_worse(same + 1, same, 3) == 0.0  # always worse, no variance
    assert diebold_mariano_worse(same, same, 3) == 0.5  # identical: neither way
    assert diebold_mariano_worse(same, same + 1, 3) == 1.0
    with_holes = np.r_[np.full(40, 2.0) + np.sin(np.arange(40)), np.nan]
    assert 0.0 <= diebold_mariano_worse(with_holes, np.ones(41), 2) <= 1.0


def test_per_origin_losses_average_to_the_reported_mase() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(6 * DAILY)
    y = 20 + 8 * np.sin(2 * np.pi * t / DAILY) + rng.normal(scale=2, size=len(t))
    report, _ = evaluate_series(
        "s", y, datetime(2026, 1, 5, tzinfo=UTC), STEP, 5 * DAILY, 6, prophet=False
    )
    for s in report.scores:
        assert np.mean(report.origin_losses[s.method]) == pytest.approx(s.mase, rel=1e-9)
    assert np.mean(report.origin_losses["chosen"]) == pytest.approx(report.chosen.mase)
    p = report.worse_than_best_baseline_p()
    assert 0.0 <= p <= 1.0
