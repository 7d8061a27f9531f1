"""The per-step queue: FIFO cohorts, fluid delays, timeouts and delay quantiles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusteward.sim.queueing import DelayHistogram, ModelQueue, pieces_quantile, served_within


def test_quantile_of_one_uniform_piece_is_linear() -> None:
    assert pieces_quantile([(100, 0.0, 10.0)], 0.95) == pytest.approx(9.5)


def test_quantile_skips_a_large_zero_delay_mass() -> None:
    assert pieces_quantile([(96, 0.0, 0.0), (4, 5.0, 5.0)], 0.97) == 5.0
    assert pieces_quantile([(96, 0.0, 0.0), (4, 5.0, 5.0)], 0.95) == 0.0


def test_served_within_counts_the_share_of_each_piece_under_the_limit() -> None:
    assert served_within([(10, 0.0, 4.0), (5, 0.0, 0.0), (3, 9.0, 9.0)], 2.0) == 10


def test_histogram_quantile_is_close_to_the_exact_one() -> None:
    hist = DelayHistogram()
    pieces = [(900, 0.0, 0.0), (100, 1.0, 21.0)]
    hist.add(pieces)
    assert hist.quantile(0.95) == pytest.approx(pieces_quantile(pieces, 0.95), rel=0.06)


def test_arrivals_under_capacity_without_backlog_wait_nothing() -> None:
    q = ModelQueue()
    out = q.step(0.0, 60.0, arrivals=50, capacity=120.0, timeout=120.0)
    assert (out.served, out.dropped, q.depth) == (50, 0, 0)
    assert pieces_quantile(out.pieces, 1.0) == 0.0


def test_backlog_is_served_before_new_arrivals_and_delays_them() -> None:
    q = ModelQueue()
    q.step(0.0, 60.0, arrivals=60, capacity=0.0, timeout=600.0)  # builds a backlog of 60
    out = q.step(60.0, 60.0, arrivals=60, capacity=120.0, timeout=600.0)
    assert out.served == 120
    backlog_piece = out.pieces[0]
    assert backlog_piece[0] == 60
    assert backlog_piece[1] == pytest.approx(30.0)  # mean arrival at t=30, served from t=60
    assert pieces_quantile(out.pieces, 1.0) > 0


def test_overload_leaves_a_queue_and_grows_delay() -> None:
    q = ModelQueue()
    out = q.step(0.0, 60.0, arrivals=200, capacity=100.0, timeout=600.0)
    assert (out.served, q.depth) == (100, 100)
    assert out.pieces[0][2] == pytest.approx(30.0)  # last served arrived at 30 s, served at 60 s


def test_requests_older_than_the_timeout_are_dropped() -> None:
    q = ModelQueue()
    q.step(0.0, 60.0, arrivals=10, capacity=0.0, timeout=80.0)  # mean arrival at 30 s
    out = q.step(60.0, 60.0, arrivals=0, capacity=0.0, timeout=80.0)  # 90 s old at the end
    assert (out.dropped, q.depth) == (10, 0)


def test_served_backlog_never_waited_longer_than_the_timeout() -> None:
    q = ModelQueue()
    q.step(0.0, 60.0, arrivals=100, capacity=0.0, timeout=100.0)
    out = q.step(60.0, 60.0, arrivals=0, capacity=100.0, timeout=100.0)
    assert max(hi for _, _, hi in out.pieces) <= 100.0 + 1e-9
    assert out.served + out.dropped == 100


def test_fractional_capacity_carries_over_to_later_steps() -> None:
    q = ModelQueue()
    served = sum(q.step(60.0 * i, 60.0, 10, 0.5, 1e9).served for i in range(10))
    assert served == 5


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.floats(0, 400, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    st.floats(30, 600),
)
def test_queue_conserves_requests_and_never_serves_beyond_capacity(
    steps: list[tuple[int, float]], timeout: float
) -> None:
    q = ModelQueue()
    arrived = served = dropped = 0
    for i, (arrivals, capacity) in enumerate(steps):
        out = q.step(60.0 * i, 60.0, arrivals, capacity, timeout)
        arrived += arrivals
        served += out.served
        dropped += out.dropped
        assert out.served <= out.capacity
        assert sum(n for n, _, _ in out.pieces) == out.served
        assert all(0 <= lo <= hi for _, lo, hi in out.pieces)
        assert q.depth == sum(int(c[0]) for c in q.cohorts) >= 0
        assert arrived == served + q.depth + dropped
