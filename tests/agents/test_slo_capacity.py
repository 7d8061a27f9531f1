"""Capacity at SLO: the queue model agrees with the simulator and behaves as queues do."""

from __future__ import annotations

import numpy as np

from agents.slo_capacity import DispersionEstimator, utilisation_at_slo
from gpusteward.sim.queueing import ModelQueue, served_within

STEP, SLO, CV, TARGET = 60.0, 2.0, 1.5, 0.995


def _u(rate: float, cv: float = CV) -> float:
    return utilisation_at_slo(rate, cv=cv, slo_seconds=SLO, step_seconds=STEP, attainment=TARGET)


def test_utilisation_at_slo_rises_with_load_and_falls_with_burstiness() -> None:
    assert _u(1.0) < _u(10.0) < _u(100.0) <= 1.0
    assert _u(10.0, cv=2.0) < _u(10.0, cv=1.5)


def test_the_simulator_queue_meets_the_slo_at_the_computed_utilisation() -> None:
    """The model is checked against the simulator's own queue with the same burstiness."""
    rate = 8.0
    util = _u(rate)
    rng = np.random.default_rng(7)
    queue, within, done = ModelQueue(), 0, 0
    extra = CV * CV - 1.0
    for t in range(4000):
        n = int(rng.poisson(rng.gamma(rate * STEP / extra, extra)))
        out = queue.step(t * STEP, STEP, n, rate * STEP / util, 120.0)
        within += served_within(out.pieces, SLO) if out.served else 0
        done += out.served + out.dropped
    assert within / done >= 0.99
    assert 0.8 < util < 0.95  # and not by a wide margin: at 8 req/s bursts need ~13 %


def test_burstiness_is_learned_from_per_tick_counts() -> None:
    rng = np.random.default_rng(3)
    est = DispersionEstimator(prior_cv=1.0, window=2000)
    assert est.cv("m") == 1.0  # the prior until enough ticks
    for _ in range(2000):
        est.observe("m", float(rng.poisson(rng.gamma(480 / 1.25, 1.25))))
    assert abs(est.cv("m") - 1.5) < 0.15
