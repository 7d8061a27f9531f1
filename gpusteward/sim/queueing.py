"""Per-model request queue for one simulator step: FIFO cohorts and fluid queueing delay.

Requests wait as cohorts (count, mean arrival time). In a step the server works at the
constant rate mu = capacity / dt: it clears the backlog first, oldest cohort first, then
takes the step's new arrivals, which arrive uniformly over the step. The delays of the
requests served form "pieces": (count, min delay, max delay), uniform in between.
Each cohort keeps the timeout it arrived under (a request held for a model waking from
zero waits longer than one queued behind busy replicas); requests older than their
timeout at the end of a step are dropped.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

Piece = tuple[int, float, float]
"""`count` requests whose queueing delays spread uniformly over [min delay, max delay]."""


@dataclass
class StepOutcome:
    capacity: int
    served: int
    dropped: int
    pieces: list[Piece]


@dataclass
class ModelQueue:
    """FIFO queue of one deployment; counts are integers, times are seconds since start."""

    cohorts: deque[list[float]] = field(default_factory=deque)  # [count, mean arrival, timeout]
    depth: int = 0
    capacity_carry: float = 0.0  # fractional request of capacity owed to the next step

    def take_capacity(self, capacity: float) -> int:
        """Whole requests this step may serve; the fraction carries over."""
        total = capacity + self.capacity_carry
        whole = math.floor(total)
        self.capacity_carry = total - whole
        return whole

    def step(
        self, t0: float, dt: float, arrivals: int, capacity: float, timeout: float
    ) -> StepOutcome:
        """Serve one step [t0, t0 + dt) at `capacity` requests in total, then drop stale ones;
        the step's arrivals wait at most `timeout` seconds."""
        cap = self.take_capacity(capacity)
        pieces: list[Piece] = []
        served = self._serve_backlog(t0, cap, dt, pieces)
        if arrivals > 0:
            served += self._serve_new(t0, dt, arrivals, cap, served, timeout, pieces)
        self.depth += arrivals - served
        return StepOutcome(cap, served, self._drop_stale(t0 + dt), pieces)

    def _serve_backlog(self, t0: float, cap: int, dt: float, pieces: list[Piece]) -> int:
        """Serve old cohorts first; a cohort's requests are not served past its timeout."""
        served = 0
        mu = cap / dt
        i = 0
        while i < len(self.cohorts) and served < cap:
            cohort = self.cohorts[i]
            count, arrived, timeout = int(cohort[0]), cohort[1], cohort[2]
            wait = t0 - arrived
            before_timeout = math.floor((timeout - wait) * mu + 1e-9) - served
            take = min(count, cap - served, max(0, before_timeout))
            if take > 0:
                pieces.append((take, wait + served / mu, wait + (served + take) / mu))
                served += take
            if take == count:
                del self.cohorts[i]
                continue
            cohort[0] = count - take
            i += 1  # out of capacity, or the rest of this cohort times out first
        return served

    def _serve_new(
        self,
        t0: float,
        dt: float,
        arrivals: int,
        cap: int,
        backlog: int,
        timeout: float,
        pieces: list[Piece],
    ) -> int:
        """Serve new arrivals after a backlog of `backlog` requests; queue the rest."""
        room = cap - backlog
        if self._waiting(t0 + dt) or room <= 0:
            self.cohorts.append([arrivals, t0 + dt / 2, timeout])
            return 0
        mu, lam = cap / dt, arrivals / dt
        t_clear = backlog / mu  # when the server has caught up with the old backlog
        served = min(arrivals, room)
        s_last = served / lam  # arrival time of the last request served this step
        s_idle = t_clear / (1.0 - lam / mu) if lam < mu else math.inf
        if s_idle < s_last:  # the server catches up: later arrivals wait 0
            waited = round(served * s_idle / s_last)
            if waited:
                pieces.append((waited, 0.0, t_clear))
            if served - waited:
                pieces.append((served - waited, 0.0, 0.0))
        else:
            w_end = max(0.0, t_clear - s_last * (1.0 - lam / mu))
            pieces.append((served, min(w_end, t_clear), max(w_end, t_clear)))
        if arrivals > served:
            self.cohorts.append([arrivals - served, t0 + (s_last + dt) / 2, timeout])
        return served

    def _waiting(self, t_end: float) -> bool:
        """Whether any backlog that is still servable is waiting (it goes before new ones)."""
        return any(t_end - c[1] <= c[2] for c in self.cohorts)

    def _drop_stale(self, t_end: float) -> int:
        stale = [c for c in self.cohorts if t_end - c[1] > c[2]]
        if not stale:
            return 0
        dropped = sum(int(c[0]) for c in stale)
        self.cohorts = deque(c for c in self.cohorts if t_end - c[1] <= c[2])
        self.depth -= dropped
        return dropped

    def oldest_arrival(self) -> float | None:
        """When the oldest request waiting arrived (a cohort's mean), None when empty."""
        return self.cohorts[0][1] if self.cohorts else None

    def drop_all(self) -> int:
        """Empty the queue (a retired deployment); returns how many were dropped."""
        dropped = self.depth
        self.cohorts.clear()
        self.depth = 0
        return dropped

    def take_all(self) -> list[list[float]]:
        """Hand the whole backlog to another queue (consolidation)."""
        moved = list(self.cohorts)
        self.cohorts.clear()
        self.depth = 0
        return moved

    def absorb(self, cohorts: list[list[float]]) -> int:
        """Take over another queue's backlog, keeping FIFO order by arrival time."""
        moved = sum(int(c[0]) for c in cohorts)
        merged = sorted([*self.cohorts, *cohorts], key=lambda c: c[1])
        self.cohorts = deque(merged)
        self.depth += moved
        return moved


def _share_below(lo: float, hi: float, x: float) -> float:
    """Share of a uniform [lo, hi] piece at or below x."""
    if x >= hi:
        return 1.0
    if x < lo:
        return 0.0
    return (x - lo) / (hi - lo)


def served_within(pieces: list[Piece], limit: float) -> int:
    """How many of the served requests waited at most `limit` seconds."""
    total = 0.0
    for n, lo, hi in pieces:
        total += n * _share_below(lo, hi, limit)
    return round(total)


def pieces_quantile(pieces: list[Piece], q: float) -> float:
    """The q-quantile of queueing delay over all pieces (exact for the fluid model)."""
    total = sum(n for n, _, _ in pieces)
    if total == 0 or all(hi <= 0.0 for _, _, hi in pieces):
        return 0.0
    target = q * total

    def below(x: float) -> float:
        return sum(n * _share_below(lo, hi, x) for n, lo, hi in pieces)

    points = sorted({p for _, lo, hi in pieces for p in (lo, hi)})
    prev_x, prev_f = points[0], below(points[0])
    if prev_f >= target:
        return prev_x
    for x in points[1:]:
        f = below(x)
        if f >= target:
            mass_at_x = sum(n for n, lo, hi in pieces if lo == hi == x)
            left = f - mass_at_x
            if left >= target and left > prev_f:
                return prev_x + (target - prev_f) / (left - prev_f) * (x - prev_x)
            return x
        prev_x, prev_f = x, f
    return points[-1]


_EDGES = np.concatenate(([0.0], np.logspace(-3, 4, 141)))  # 20 bins per decade, 1 ms .. 3 h


@dataclass
class DelayHistogram:
    """Cumulative queueing-delay histogram on fixed log-spaced bins (for the run's p95)."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(_EDGES) - 1))

    def add(self, pieces: list[Piece]) -> None:
        for n, lo, hi in pieces:
            if n <= 0:
                continue
            if hi < _EDGES[1]:
                self.counts[0] += n
            elif hi <= lo:
                i = min(int(np.searchsorted(_EDGES, lo, "right")) - 1, len(self.counts) - 1)
                self.counts[i] += n
            else:
                share = np.clip((_EDGES - lo) / (hi - lo), 0.0, 1.0)
                share[-1] = 1.0  # delays past the last edge land in the last bin
                self.counts += n * np.diff(share)

    def quantile(self, q: float) -> float:
        cum = np.cumsum(self.counts)
        total = float(cum[-1])
        if total <= 0.0:
            return 0.0
        target = q * total
        i = int(np.searchsorted(cum, target, "left"))
        i = min(i, len(self.counts) - 1)
        if i == 0:
            return 0.0  # the first bin holds delays under 1 ms: report them as no wait
        before = float(cum[i - 1]) if i > 0 else 0.0
        inside = float(self.counts[i])
        share = (target - before) / inside if inside > 0 else 1.0
        return float(_EDGES[i] + share * (_EDGES[i + 1] - _EDGES[i]))
