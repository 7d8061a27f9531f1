"""The queue behind capacity at SLO (`agents.slo_capacity`), and the search over it.

Arrivals per observation step have mean m and variance cv^2 x m (gamma-mixed Poisson);
inside a step they arrive uniformly; one FIFO server works at the constant raw capacity
m / utilisation; what a step cannot serve waits into the next one, and a backlog whose
mean wait passes the timeout is dropped. Each (mean, utilisation) cell is such a queue,
run for `STEPS` steps on arrivals from a fixed seed (the same arrivals for every
utilisation of a mean), so its attainment (the share of requests that waited at most the
SLO) is deterministic.

A table needs, per mean, the first utilisation on the `UTILS` grid whose attainment
misses the target. The whole grid is 41 x 161 queues; `first_miss` finds the same
indices from about a thousand: a 1,000-step screening run over the grid guesses where
each mean's first miss lies, the full-length run looks only at the 25 utilisations
around the guess, and where the window does not hold the first miss (its first
utilisation misses, or its last meets) a second pass runs from the window's known end to
the grid's end. That rests on attainment falling as the utilisation rises (the same
arrivals against a slower server); `first_miss_full` runs the whole grid, and the tests
check the two agree.

The step loop is bound by the number of numpy calls (about 70 a step), not by the cells
in each, so a pass over a thousand cells costs almost what the whole grid's 6,601 do:
the search saves about 2.2x, not 6x. The loop computes every value once and writes in
place where it can (the same arithmetic, in the same order, as the loop it replaced: a
cell's value is bit for bit what it was).
"""

from __future__ import annotations

import numpy as np

STEPS = 8_000
SEED = 20_261_128
MEANS = np.geomspace(0.5, 50_000.0, 41)  # requests per step
UTILS = np.round(np.arange(0.20, 1.0001, 0.005), 4)
_SCREEN_STEPS = 1_000  # the screening run: the first 1,000 steps of the same arrivals
_WINDOW = 12  # utilisations each side of the guess the full-length run looks at


def arrivals(cv: float) -> np.ndarray:
    """Counts per step, shape (STEPS, len(MEANS)): mean m, variance cv^2 x m."""
    rng = np.random.default_rng(SEED)
    m = np.broadcast_to(MEANS, (STEPS, len(MEANS)))
    c2 = cv * cv
    if c2 <= 0.0:
        return m.copy()
    if c2 < 1.0:
        return m * (1.0 - c2) + rng.poisson(m * c2)
    if c2 == 1.0:
        return rng.poisson(m).astype(float)
    extra = c2 - 1.0
    return rng.poisson(rng.gamma(m / extra, extra)).astype(float)


def _share_above(lo: np.ndarray, hi: np.ndarray, limit: float) -> np.ndarray:
    """Share of a uniform [lo, hi] spread of waits above `limit` (a point when hi <= lo).
    Called inside `np.errstate(divide="ignore", invalid="ignore")`: where the span is 0
    the quotient is not used."""
    span = hi - lo
    q = (hi - limit) / span
    np.maximum(q, 0.0, out=q)
    np.minimum(q, 1.0, out=q)
    return np.where(span > 1e-12, q, lo > limit)


def attainment(
    counts: np.ndarray,
    means: np.ndarray,
    utils: np.ndarray,
    slo_over_step: float,
    timeout_over_step: float,
) -> np.ndarray:
    """Attainment of the queue with mean `means[i]` (arrivals `counts[:, i]`) at
    utilisation `utils[i, j]`; the shape of `utils` (one row per mean, each row with its
    own utilisations). A cell's value does not depend on the other cells run with it."""
    cap = means[:, None] / utils  # raw capacity per step; the step is the unit of time
    mu = cap
    backlog = np.zeros_like(cap)
    wait = np.zeros_like(cap)  # mean wait of the backlog at the start of the step
    missed = np.zeros_like(cap)
    lams = np.maximum(counts, 1e-12)
    halves = counts * 0.5
    s = slo_over_step
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(len(counts)):
            n = counts[t][:, None]
            lam = lams[t][:, None]
            take = np.minimum(backlog, cap)
            t_clear = take / mu
            missed += take * _share_above(wait, wait + t_clear, s)
            rest = backlog - take
            # New arrivals, when the old backlog is cleared within the step.
            served = np.minimum(n, cap - take)
            s_last = served / lam
            one_m = 1.0 - lam / mu
            s_idle = np.where(lam < mu, t_clear / one_m, np.inf)
            catch_up = s_idle < s_last
            waited = served * np.where(catch_up, s_idle, 0.0) / np.maximum(s_last, 1e-12)
            q = (t_clear - s) / t_clear  # _share_above(0, t_clear, s), s > 0
            np.maximum(q, 0.0, out=q)
            np.minimum(q, 1.0, out=q)
            early = np.where(t_clear > 1e-12, q, 0.0)
            w_end = t_clear - s_last * one_m
            lo, hi = np.minimum(w_end, t_clear), np.maximum(w_end, t_clear)
            missed += np.where(catch_up, waited * early, served * _share_above(lo, hi, s))
            # What is left waits into the next step.
            cleared = rest <= 0
            more = rest + n
            nb = np.where(cleared, n - served, more)
            carried = np.where(
                cleared,
                (1.0 - s_last) / 2.0,
                (rest * (wait + 1.0) + halves[t][:, None]) / np.maximum(more, 1e-12),
            )
            stale = carried > timeout_over_step
            np.add(missed, nb, out=missed, where=stale)
            np.copyto(nb, 0.0, where=stale)
            np.copyto(carried, 0.0, where=stale)
            backlog, wait = nb, carried
        total = counts.sum(axis=0)[:, None]  # 0 only in a screening run: NaN, a miss
        out: np.ndarray = 1.0 - np.minimum(missed, total) / total
    return out


def _first_misses(ok: np.ndarray) -> np.ndarray:
    """Per row, the first column that does not meet (the row's length when none)."""
    out: np.ndarray = np.where((~ok).any(axis=1), (~ok).argmax(axis=1), ok.shape[1])
    return out


def first_miss_full(
    cv: float, slo_over_step: float, timeout_over_step: float, target: float
) -> np.ndarray:
    """Per mean: the index in `UTILS` of the first utilisation whose attainment is below
    `target` (`len(UTILS)` when none), from the whole grid (41 x 161 queues)."""
    grid = np.broadcast_to(UTILS, (len(MEANS), len(UTILS)))
    ok = attainment(arrivals(cv), MEANS, grid, slo_over_step, timeout_over_step) >= target
    return _first_misses(ok)


def first_miss(
    cv: float, slo_over_step: float, timeout_over_step: float, target: float
) -> np.ndarray:
    """What `first_miss_full` finds, from a screening run and a window search."""
    counts = arrivals(cv)
    n, w = len(UTILS), _WINDOW
    grid = np.broadcast_to(UTILS, (len(MEANS), n))
    short = counts[:_SCREEN_STEPS]
    guess = _first_misses(
        attainment(short, MEANS, grid, slo_over_step, timeout_over_step) >= target
    )
    lo = np.clip(guess - w, 0, n - 1)
    hi = np.clip(guess + w, 0, n - 1)
    first = np.full(len(MEANS), -1)
    todo = np.arange(len(MEANS))
    while len(todo):
        a, b = lo[todo], hi[todo]
        idx = np.minimum(a[:, None] + np.arange(int((b - a).max()) + 1)[None, :], b[:, None])
        ok = (
            attainment(
                np.ascontiguousarray(counts[:, todo]),
                MEANS[todo],
                UTILS[idx],
                slo_over_step,
                timeout_over_step,
            )
            >= target
        )
        lower = (a > 0) & ~ok[:, 0]  # the first miss is at or below the window's start
        higher = ~lower & (b < n - 1) & ok[:, -1]  # ... above its end (its last column is b)
        done = ~lower & ~higher
        k = _first_misses(ok[done])
        rows = np.arange(len(todo))[done]
        first[todo[done]] = np.where(
            k < idx.shape[1], idx[rows, np.minimum(k, idx.shape[1] - 1)], n
        )
        # The guess was off: the next window runs from the known end (a miss as its last,
        # a meet as its first) to the end of the grid, so a second pass always settles.
        lo[todo[lower]], hi[todo[lower]] = 0, a[lower]
        lo[todo[higher]], hi[todo[higher]] = b[higher], n - 1
        todo = todo[~done]
    return first
