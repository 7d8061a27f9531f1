"""The capacity-at-SLO table search gives the tables the whole-grid loop gave, faster.

`reference_attainment` is the step loop `agents.slo_capacity` ran over the whole grid
(41 means x 161 utilisations) before the search, kept here verbatim as the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents import slo_queue
from agents.slo_capacity import table_from_first_miss
from agents.slo_queue import MEANS, UTILS, arrivals, first_miss, first_miss_full


def _share_above(lo: np.ndarray, hi: np.ndarray, limit: float) -> np.ndarray:
    span = hi - lo
    point = (lo > limit).astype(float)
    spread = np.clip((hi - limit) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return np.where(span > 1e-12, spread, point)


def reference_attainment(
    arrivals_: np.ndarray, slo_over_step: float, timeout_over_step: float
) -> np.ndarray:
    cap = MEANS[:, None] / UTILS[None, :]
    mu = cap
    backlog = np.zeros_like(cap)
    wait = np.zeros_like(cap)
    missed = np.zeros_like(cap)
    s = slo_over_step
    for t in range(len(arrivals_)):
        n = arrivals_[t][:, None]
        take = np.minimum(backlog, cap)
        missed += take * _share_above(wait, wait + take / mu, s)
        rest = backlog - take
        t_clear = take / mu
        room = cap - take
        served = np.minimum(n, room)
        lam = np.maximum(n, 1e-12)
        s_last = served / lam
        below = lam < mu
        s_idle = np.where(below, t_clear / np.where(below, 1.0 - lam / mu, 1.0), np.inf)
        catch_up = s_idle < s_last
        waited = served * np.where(catch_up, s_idle, 0.0) / np.maximum(s_last, 1e-12)
        missed += np.where(catch_up, waited * _share_above(0.0 * t_clear, t_clear, s), 0.0)
        w_end = t_clear - s_last * (1.0 - lam / mu)
        lo, hi = np.minimum(w_end, t_clear), np.maximum(w_end, t_clear)
        missed += np.where(catch_up, 0.0, served * _share_above(lo, hi, s))
        left = n - served
        new_wait = (1.0 - s_last) / 2.0
        cleared = rest <= 0
        nb = np.where(cleared, left, rest + n)
        carried = np.where(
            cleared,
            new_wait,
            (rest * (wait + 1.0) + n * 0.5) / np.maximum(rest + n, 1e-12),
        )
        stale = carried > timeout_over_step
        missed += np.where(stale, nb, 0.0)
        backlog = np.where(stale, 0.0, nb)
        wait = np.where(stale, 0.0, carried)
    total = arrivals_.sum(axis=0)[:, None]
    out: np.ndarray = 1.0 - np.minimum(missed, total) / total
    return out


def _reference_table(cv: float, slo: float, timeout: float, target: float) -> tuple[float, ...]:
    grid = reference_attainment(arrivals(cv), slo, timeout)
    miss = grid < target
    first = np.where(miss.any(axis=1), miss.argmax(axis=1), len(UTILS))
    return table_from_first_miss(first)


# (cv, SLO / step, timeout / step, attainment): the realtime and batch shapes of the
# scenarios (2 s and 60 s SLOs on a 60 s step, 120 s and 900 s timeouts), smooth to very
# bursty loads.
CASES = [(0.3, 0.0333, 2.0, 0.99), (1.5, 0.0333, 2.0, 0.995), (6.0, 1.0, 15.0, 0.99)]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_the_search_finds_the_tables_of_the_whole_grid_loop(case: tuple[float, ...]) -> None:
    cv, slo, timeout, target = case
    assert table_from_first_miss(first_miss(cv, slo, timeout, target)) == _reference_table(
        cv, slo, timeout, target
    )


@pytest.mark.parametrize("case", [(0.5, 0.0333, 2.0), (2.0, 0.0333, 2.0), (4.0, 1.0, 15.0)])
def test_the_step_loop_gives_the_reference_loop_values_bit_for_bit(
    case: tuple[float, float, float],
) -> None:
    """Every cell of the grid, on the first 400 steps."""
    cv, slo, timeout = case
    counts = arrivals(cv)[:400]
    grid = np.broadcast_to(UTILS, (len(MEANS), len(UTILS)))
    got = slo_queue.attainment(counts, MEANS, grid, slo, timeout)
    np.testing.assert_array_equal(got, reference_attainment(counts, slo, timeout))


def test_a_window_guessed_wrong_is_moved_until_it_holds_the_first_miss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A screening run too short to guess well (3 steps) still gives the exact indices."""
    monkeypatch.setattr(slo_queue, "STEPS", 400)
    want = first_miss_full(1.5, 0.0333, 2.0, 0.99)
    monkeypatch.setattr(slo_queue, "_SCREEN_STEPS", 3)
    monkeypatch.setattr(slo_queue, "_WINDOW", 2)
    np.testing.assert_array_equal(first_miss(1.5, 0.0333, 2.0, 0.99), want)


def test_the_search_runs_a_fraction_of_the_whole_grid_s_queue_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The work each does, counted in queue-steps (queues x steps simulated), not timed:
    the search screens the grid on 1,000 steps and runs a window of 25 utilisations per
    mean at full length; the grid runs all 6,601 queues at full length. (The wall-time
    comparison is `benchmarks/slo_tables.py`'s, in RESULTS.md.)"""
    steps: list[int] = []
    real = slo_queue.attainment

    def counted(counts: np.ndarray, means: np.ndarray, utils: np.ndarray, *a: float) -> np.ndarray:
        steps.append(counts.shape[0] * utils.size)
        return real(counts, means, utils, *a)

    monkeypatch.setattr(slo_queue, "attainment", counted)
    np.testing.assert_array_equal(
        first_miss(2.5, 0.0333, 2.0, 0.99), first_miss_full(2.5, 0.0333, 2.0, 0.99)
    )
    full = steps.pop()
    assert full == len(arrivals(2.5)) * len(MEANS) * len(UTILS)
    assert sum(steps) < full / 3, (sum(steps), full)
