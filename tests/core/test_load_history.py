"""Load history: gaps stay gaps, the window rolls."""

from datetime import UTC, datetime, timedelta

from gpusteward.core.load import LoadHistory

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def test_unobserved_ticks_become_gaps_not_zeros() -> None:
    h = LoadHistory(60, 100)
    h.record("a", T0, 1.0)
    h.record("a", T0 + timedelta(minutes=3), 4.0)
    assert h.series("a").values == (1.0, None, None, 4.0)


def test_window_keeps_the_newest_points_and_moves_its_start() -> None:
    h = LoadHistory(60, 3)
    for i in range(5):
        h.record("a", T0 + timedelta(minutes=i), float(i))
    s = h.series("a")
    assert s.values == (2.0, 3.0, 4.0)
    assert s.start == T0 + timedelta(minutes=2)
    assert s.last_observed() == 4.0
