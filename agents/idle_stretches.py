"""A model's own idle stretches and returns, remembered from the snapshots a planner sees.

Per deployment: when its current idle stretch began (no request arrived, none queued or
running), the lengths of its past idle stretches, and when it came back after one long
enough to have been parked at zero. From these:

- `return_risk`: of the past idle stretches at least as long as the current one, the
  share that ended within the next `horizon` seconds (the current one counts as one that
  has not ended). Nothing as long seen before: 0, the traffic has stopped (the
  forecaster's signal, `forecasting.guards.silent_tail`, asks the same question: longer
  than any idle stretch the series came back from).
- `recurring_return`: a return expected within a window ahead, because the model came
  back at that time of day on enough of the last days (a client that returns every
  morning).

Pure: time comes from the snapshots only. Small; remembered with the planner.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAY = timedelta(days=1)


@dataclass
class IdleMemory:
    """One deployment's idle stretches (end time, seconds) and returns (times)."""

    idle_since: datetime | None = None
    last_seen: datetime | None = None
    stretches: deque[tuple[datetime, float]] = field(default_factory=deque)
    returns: deque[datetime] = field(default_factory=deque)

    def observe(
        self,
        at: datetime,
        interval_seconds: float,
        active: bool,
        *,
        long_idle_seconds: float,
        keep_seconds: float,
    ) -> None:
        """One snapshot at `at` covering the `interval_seconds` before it: `active` when a
        request arrived, waited or ran in it. A return after an idle stretch of at least
        `long_idle_seconds` is kept as a return; memory older than `keep_seconds` goes."""
        if self.last_seen is not None and at <= self.last_seen:
            return  # the same instant seen twice (a replay): counted once
        self.last_seen = at
        interval = timedelta(seconds=interval_seconds)
        if not active:
            if self.idle_since is None:
                self.idle_since = at - interval
            return
        if self.idle_since is not None:
            back = at - interval  # it came back somewhere in this interval: its start
            seconds = max(0.0, (back - self.idle_since).total_seconds())
            if seconds > 0:
                self.stretches.append((at, seconds))
            if seconds >= long_idle_seconds:
                self.returns.append(back)
            self.idle_since = None
        horizon = at - timedelta(seconds=keep_seconds)
        while self.stretches and self.stretches[0][0] < horizon:
            self.stretches.popleft()
        while self.returns and self.returns[0] < horizon:
            self.returns.popleft()

    def idle_seconds(self, at: datetime) -> float:
        """How long it has been idle at `at` (0 when active)."""
        if self.idle_since is None:
            return 0.0
        return max(0.0, (at - self.idle_since).total_seconds())

    def return_risk(self, idle_seconds: float, horizon_seconds: float) -> tuple[float, int]:
        """(share of idle stretches as long as `idle_seconds` that ended within the next
        `horizon_seconds`, how many such stretches were seen before)."""
        longer = [s for _, s in self.stretches if s >= idle_seconds]
        ended = sum(1 for s in longer if s < idle_seconds + horizon_seconds)
        return ended / (len(longer) + 1), len(longer)  # + 1: the current, not ended

    def recurring_return(
        self, at: datetime, ahead_seconds: float, days: int, min_days: int, drift_seconds: float
    ) -> tuple[datetime, int] | None:
        """The earliest time in (at, at + ahead] at which the model came back on at least
        `min_days` of the last `days` days, at the same time of day give or take the drift:
        counted are the days with a return in [that time, that time + `drift_seconds`]
        (shifted by whole days). With on how many days; None when there is none.

        A recurrence is judged around its earliest time, so it is seen as soon as that time
        enters the window, not when the latest of its days does (which would leave less than
        the window's lead before the earliest one); and returns that drift apart by more than
        `drift_seconds` are not one recurrence."""
        returns = list(self.returns)  # oldest first, as `observe` appends them
        end, drift = at + timedelta(seconds=ahead_seconds), timedelta(seconds=drift_seconds)
        shifts = [k * DAY for k in range(1, days + 1)]

        def came_back(lo: datetime, hi: datetime) -> bool:  # a return in [lo, hi]
            i = bisect_left(returns, lo)
            return i < len(returns) and returns[i] <= hi

        candidates = sorted(
            r + s
            for s in shifts
            for r in returns[bisect_right(returns, at - s) : bisect_right(returns, end - s)]
        )
        for first in candidates:
            seen = sum(1 for s in shifts if came_back(first - s, first + drift - s))
            if seen >= min_days:
                return first, seen
        return None
