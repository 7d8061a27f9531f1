"""Each lead past the first hour calibrates its own band on its own realised misses, so a
day-ahead band moves towards its coverage over the days seen, level shifts included."""

from __future__ import annotations

import numpy as np

from forecasting.online import OnlineSettings, calibrate

STEPS = 24  # leads; the first 2 feed the shared offset
N = 1500


def _bands(long_gamma: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A load that is calm for 150 windows, then shifts level by a random factor about
    every 40 windows; forecast by its last value. The base band comes from the calm start,
    so it knows nothing of the shifts; short leads barely see them, long leads miss."""
    rng = np.random.default_rng(seed)
    shifts = np.zeros(N + STEPS)
    for t in range(150, N + STEPS, 40):
        shifts[t + rng.integers(-10, 10)] = rng.normal(0.0, 0.3)
    y = 100 * np.exp(np.cumsum(shifts)) * np.exp(rng.normal(0.0, 0.02, N + STEPS))
    origins = np.arange(1, N)
    point = np.repeat(y[origins - 1][:, None], STEPS, axis=1)
    settings = OnlineSettings(feedback_leads=2, gamma=0.05, long_gamma=long_gamma)
    lo, _, hi, _ = calibrate(point, y, origins, 100, settings)
    return lo, hi, y


def _coverage(lead: int, lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> float:
    origins = np.arange(1, N)
    late = origins >= 400  # after several shifts were seen at that lead
    actual = y[origins[late] + lead]
    return float(np.mean((actual >= lo[late, lead]) & (actual <= hi[late, lead])))


def test_a_long_lead_band_moves_towards_its_coverage_from_its_own_misses() -> None:
    for seed in range(3):
        before = _coverage(STEPS - 1, *_bands(0.0, seed))
        after = _coverage(STEPS - 1, *_bands(0.05, seed))
        assert before < 0.45  # the short leads' offset alone: far too narrow a day ahead
        assert after > before + 0.2 and after < 0.9


def test_the_first_hours_leads_are_unchanged_by_the_long_leads_offsets() -> None:
    off_lo, off_hi, _ = _bands(0.0, 0)
    on_lo, on_hi, _ = _bands(0.05, 0)
    assert np.allclose(off_lo[:, :2], on_lo[:, :2]) and np.allclose(off_hi[:, :2], on_hi[:, :2])
