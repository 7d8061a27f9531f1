"""Capacity at SLO: the highest utilisation at which a queueing-delay SLO still holds.

A replica's raw throughput is what it serves flat out; its capacity at SLO is lower,
because arrivals come in bursts and a request that arrives in a burst waits. This module
answers, for a steady load, "at most what share of the raw capacity may the mean load
use so that `attainment` of requests wait at most `slo_seconds`?".

The model (pure, deterministic, no I/O): arrivals per observation step of `step_seconds`
have mean `rate x step` and variance / mean = cv^2 (gamma-mixed Poisson, as in the
simulator and as measured from per-tick arrival counts); inside a step they arrive
uniformly; one FIFO server works at the constant raw capacity; what a step cannot serve
waits into the next one. The attainment of each (load, utilisation) pair is measured by
running that queue for `_STEPS` steps with a fixed seed (common random numbers across
utilisations), so the table is the same on every run. Pooling is captured: at a higher
load the relative burst is smaller, so the utilisation at SLO rises with the load.

A table costs 2-3 s of CPU and a process keeps 512. Processes that run the same load
(the variants of one benchmark) can share them through a directory named by
`GPUSTEWARD_SLO_TABLE_DIR`: the first process to need a table builds and writes it, the
others wait for it and read it (the same numbers: the tables are deterministic). Unset, no
file is touched.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from gpusteward.core.remembered import Remembers

_STEPS = 8_000
_SEED = 20_261_128
_MEANS = np.geomspace(0.5, 50_000.0, 41)  # requests per step
_UTILS = np.round(np.arange(0.20, 1.0001, 0.005), 4)
_FLOOR_UTIL = 0.2


def _arrivals(rng: np.random.Generator, cv: float) -> np.ndarray:
    """Counts per step, shape (steps, means): mean m, variance cv^2 x m."""
    m = np.broadcast_to(_MEANS, (_STEPS, len(_MEANS)))
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
    """Share of a uniform [lo, hi] spread of waits above `limit` (a point when hi <= lo)."""
    span = hi - lo
    point = (lo > limit).astype(float)
    spread = np.clip((hi - limit) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return np.where(span > 1e-12, spread, point)


def _attainment_grid(cv: float, slo_over_step: float, timeout_over_step: float) -> np.ndarray:
    """Attainment for every (mean per step, utilisation), shape (means, utils); step = 1."""
    rng = np.random.default_rng(_SEED)
    arrivals = _arrivals(rng, cv)
    cap = _MEANS[:, None] / _UTILS[None, :]  # raw capacity per step
    mu = cap  # served per unit time, the step being the unit
    backlog = np.zeros_like(cap)
    wait = np.zeros_like(cap)  # mean wait of the backlog at the start of the step
    missed = np.zeros_like(cap)
    s = slo_over_step
    for t in range(_STEPS):
        n = arrivals[t][:, None]
        take = np.minimum(backlog, cap)
        missed += take * _share_above(wait, wait + take / mu, s)
        rest = backlog - take
        # New arrivals, when the old backlog is cleared within the step.
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
        # What is left waits into the next step.
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
    total = arrivals.sum(axis=0)[:, None]
    out: np.ndarray = 1.0 - np.minimum(missed, total) / total
    return out


TABLE_DIR_ENV = "GPUSTEWARD_SLO_TABLE_DIR"
_TABLE_VERSION = f"v1-{_STEPS}-{_SEED}-{len(_MEANS)}-{len(_UTILS)}"  # part of each file name
_WAIT_SECONDS = 900.0  # for a table another process builds; then build it here


@lru_cache(maxsize=512)  # ~0.5 MB; servegen-14d visits some 30, the model zoo hundreds
def _utilisation_table(
    cv: float, slo_over_step: float, timeout_over_step: float, attainment: float
) -> tuple[float, ...]:
    """Per entry of `_MEANS`: the highest utilisation (on the grid) whose attainment, and
    that of every lower utilisation, reaches `attainment`."""
    shared = os.environ.get(TABLE_DIR_ENV)
    if not shared:
        return _build_table(cv, slo_over_step, timeout_over_step, attainment)
    name = f"{_TABLE_VERSION}_{cv!r}_{slo_over_step!r}_{timeout_over_step!r}_{attainment!r}"
    return shared_table(
        Path(shared),
        name,
        lambda: _build_table(cv, slo_over_step, timeout_over_step, attainment),
        len(_MEANS),
    )


def shared_table(
    folder: Path, name: str, build: Callable[[], tuple[float, ...]], size: int
) -> tuple[float, ...]:
    """The table in `folder/name.json`; built (and written) by the first process to ask
    for it, which holds `name.lock` meanwhile. A file that is not a list of `size` numbers
    is rebuilt; a lock older than `_WAIT_SECONDS` is taken as left by a dead process."""
    folder.mkdir(parents=True, exist_ok=True)
    path, lock = folder / f"{name}.json", folder / f"{name}.lock"
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        found = _read_table(path, size)
        if found is not None:
            return found
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            stale = time.time() - _mtime(lock) > _WAIT_SECONDS
            if stale or time.monotonic() > deadline:
                return build()  # its builder is gone or slow: do not wait on it for ever
            time.sleep(0.2)
            continue
        os.close(fd)
        try:
            table = build()
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_text(json.dumps(list(table)))
            os.replace(partial, path)
            return table
        finally:
            lock.unlink(missing_ok=True)


def _read_table(path: Path, size: int) -> tuple[float, ...] | None:
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(values, list) or len(values) != size:
        return None
    if not all(isinstance(v, float) for v in values):
        return None
    return tuple(values)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()  # gone meanwhile: not stale, look again


def _build_table(
    cv: float, slo_over_step: float, timeout_over_step: float, attainment: float
) -> tuple[float, ...]:
    grid = _attainment_grid(cv, slo_over_step, timeout_over_step)
    out = []
    for row in grid:
        ok = row >= attainment
        bad = np.flatnonzero(~ok)
        i = (bad[0] if len(bad) else len(_UTILS)) - 1
        out.append(float(_UTILS[i]) if i >= 0 else _FLOOR_UTIL)
    # The utilisation at SLO never falls as the load grows (pooling): smooth MC noise.
    return tuple(np.maximum.accumulate(np.array(out)).tolist())


def _round(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


def utilisation_at_slo(
    rate_rps: float,
    *,
    cv: float,
    slo_seconds: float,
    step_seconds: float,
    attainment: float,
    timeout_seconds: float = 120.0,
) -> float:
    """Highest mean-load / raw-capacity ratio at which `attainment` of requests wait at
    most `slo_seconds`, for a steady `rate_rps` whose per-step counts have dispersion
    cv^2. In (0, 1]. cv is rounded up to 0.05, the rest to 3 significant digits, and
    one table (about 2 s to build) is cached per rounded combination."""
    if rate_rps <= 0:
        return 1.0
    table = _utilisation_table(
        math.ceil(max(cv, 0.0) * 20 - 1e-9) / 20,  # 0.05 steps, rounded up: few tables
        _round(slo_seconds / step_seconds),
        _round(timeout_seconds / step_seconds),
        _round(min(attainment, 0.9999), 4),
    )
    m = rate_rps * step_seconds
    x = math.log(min(max(m, _MEANS[0]), _MEANS[-1]))
    return float(np.interp(x, np.log(_MEANS), table))


class DispersionEstimator(Remembers):
    """Burstiness (cv^2 = variance / mean of per-tick arrival counts), learned online.

    From consecutive ticks with arrivals: (x1 - x0)^2 / (x0 + x1) estimates cv^2 when the
    rate is steady; the median over a window (divided by the median of chi-square(1),
    0.4549) ignores the few pairs that straddle a level shift. Until `min_samples` pairs
    are seen, `prior_cv` is used. Small; pickles.
    """

    remembers = ("_last", "_ratios", "_cv")

    def __init__(self, prior_cv: float = 1.5, min_samples: int = 30, window: int = 360) -> None:
        self.prior_cv, self.min_samples, self.window = prior_cv, min_samples, window
        self._last: dict[str, float] = {}
        self._ratios: dict[str, list[float]] = {}
        self._cv: dict[str, float] = {}  # the median, until the next observation

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update({"_cv": {}, **state})  # a checkpoint from before the cache

    def observe(self, key: str, count: float) -> None:
        self._cv.pop(key, None)
        prev = self._last.get(key)
        self._last[key] = count
        if prev is None or prev <= 0 or count <= 0:
            return
        ratios = self._ratios.setdefault(key, [])
        ratios.append((count - prev) ** 2 / (count + prev))
        if len(ratios) > self.window:
            del ratios[: len(ratios) - self.window]

    def cv(self, key: str) -> float:
        known = self._cv.get(key)
        if known is not None:
            return known
        ratios = self._ratios.get(key, [])
        if len(ratios) < self.min_samples:
            return self.prior_cv
        value = self._cv[key] = math.sqrt(max(float(np.median(ratios)) / 0.4549, 0.0))
        return value
