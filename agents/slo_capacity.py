"""Capacity at SLO: the highest utilisation at which a queueing-delay SLO still holds.

A replica's raw throughput is what it serves flat out; its capacity at SLO is lower,
because arrivals come in bursts and a request that arrives in a burst waits. This module
answers, for a steady load, "at most what share of the raw capacity may the mean load
use so that `attainment` of requests wait at most `slo_seconds`?".

The model (pure, deterministic, no I/O; `agents.slo_queue`): arrivals per observation
step of `step_seconds` have mean `rate x step` and variance / mean = cv^2 (gamma-mixed
Poisson, as in the simulator and as measured from per-tick arrival counts); inside a step
they arrive uniformly; one FIFO server works at the constant raw capacity; what a step
cannot serve waits into the next one. The attainment of each (load, utilisation) pair is
measured by running that queue for `STEPS` steps with a fixed seed (common random numbers
across utilisations), so the table is the same on every run. Pooling is captured: at a
higher load the relative burst is smaller, so the utilisation at SLO rises with the load.

A table costs about 1 s of CPU (a search over the queue grid, `agents.slo_queue`; the
whole grid took 2-3 s) and a process keeps 512. Processes that run the same load
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

from agents.slo_queue import MEANS, SEED, STEPS, UTILS, first_miss
from gpusteward.core.remembered import Remembers

_FLOOR_UTIL = 0.2


TABLE_DIR_ENV = "GPUSTEWARD_SLO_TABLE_DIR"
_TABLE_VERSION = f"v1-{STEPS}-{SEED}-{len(MEANS)}-{len(UTILS)}"  # part of each file name
_WAIT_SECONDS = 900.0  # for a table another process builds; then build it here


@lru_cache(maxsize=512)  # ~0.5 MB; servegen-14d visits some 30, the model zoo hundreds
def _utilisation_table(
    cv: float, slo_over_step: float, timeout_over_step: float, attainment: float
) -> tuple[float, ...]:
    """Per entry of `MEANS`: the highest utilisation (on the grid) whose attainment, and
    that of every lower utilisation, reaches `attainment`."""
    shared = os.environ.get(TABLE_DIR_ENV)
    if not shared:
        return _build_table(cv, slo_over_step, timeout_over_step, attainment)
    name = f"{_TABLE_VERSION}_{cv!r}_{slo_over_step!r}_{timeout_over_step!r}_{attainment!r}"
    return shared_table(
        Path(shared),
        name,
        lambda: _build_table(cv, slo_over_step, timeout_over_step, attainment),
        len(MEANS),
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
    return table_from_first_miss(first_miss(cv, slo_over_step, timeout_over_step, attainment))


def table_from_first_miss(first: np.ndarray) -> tuple[float, ...]:
    """Per mean, the utilisation just below its first missing one (`_FLOOR_UTIL` when the
    lowest misses already)."""
    out = [float(UTILS[i - 1]) if i > 0 else _FLOOR_UTIL for i in first.tolist()]
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
    one table (about 1 s to build) is cached per rounded combination."""
    if rate_rps <= 0:
        return 1.0
    table = _utilisation_table(
        math.ceil(max(cv, 0.0) * 20 - 1e-9) / 20,  # 0.05 steps, rounded up: few tables
        _round(slo_seconds / step_seconds),
        _round(timeout_seconds / step_seconds),
        _round(min(attainment, 0.9999), 4),
    )
    m = rate_rps * step_seconds
    x = math.log(min(max(m, MEANS[0]), MEANS[-1]))
    return float(np.interp(x, np.log(MEANS), table))


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


class VariogramDispersionEstimator(Remembers):
    """Burstiness (cv^2 = variance / mean of per-tick arrival counts), learned online from
    the counts' variogram: right for on/off traffic too, and robust to steps of the rate.

    For counts x_t with mean mu_t and variance cv^2 mu_t, the mean squared difference at
    lag k is cv^2 (mu_t + mu_{t-k}) plus the squared change of the mean over k ticks.
    Where the mean moves by steps (10-minute trace windows, a client that comes and
    goes), a step lies between x_{t-1} and x_t once but between x_{t-2} and x_t twice,
    so 2 x lag-1 - lag-2 (the variogram extrapolated to lag 0, its nugget) keeps the
    counts' own variance and cancels the steps in expectation. Summed over a window and
    divided by the summed x_{t-1} + x_t, it is the rate-weighted mean cv^2 there. Every
    tick counts, empty ones too: the median of pair ratios (`DispersionEstimator`) skips
    pairs with an empty tick and reads the typical pair, so it under-reads counts that
    are mostly zero with rare large bursts (a gamma-mixed Poisson of small shape: an
    on/off batch client), and this does not.

    The nugget is a difference of two sums, and next to a large step its noise (the step
    times the counts' noise) can outweigh it, down to below zero. So the answer is never
    below the median of pair ratios, which such steps do not move: each reading is
    consistent where the counts are steady, and each under-reads in one case only
    (pairs: heavy tails; nugget: noise at large steps). A trend in the rate (not a
    step) lowers the nugget by twice its squared slope per tick. Until `min_samples`
    ticks are seen, or while the window holds no arrival, `prior_cv` is used. Small; its
    state is plain numbers.
    """

    remembers = ("pairs", "_recent", "_terms", "_cv")

    def __init__(self, prior_cv: float = 1.5, min_samples: int = 30, window: int = 360) -> None:
        self.prior_cv, self.min_samples, self.window = prior_cv, min_samples, window
        self.pairs = DispersionEstimator(prior_cv, min_samples, window)
        self._recent: dict[str, list[float]] = {}  # the last two counts, oldest first
        # per tick: (x_t - x_{t-1})^2, (x_t - x_{t-2})^2, x_t + x_{t-1}
        self._terms: dict[str, list[tuple[float, float, float]]] = {}
        self._cv: dict[str, float] = {}  # the estimate, until the next observation

    def observe(self, key: str, count: float) -> None:
        self._cv.pop(key, None)
        self.pairs.observe(key, count)
        count = max(count, 0.0)
        recent = self._recent.setdefault(key, [])
        if len(recent) == 2:
            before, last = recent
            terms = self._terms.setdefault(key, [])
            terms.append(((count - last) ** 2, (count - before) ** 2, count + last))
            if len(terms) > self.window:
                del terms[: len(terms) - self.window]
        recent.append(count)
        del recent[:-2]

    def nugget_cv(self, key: str) -> float | None:
        """The variogram's reading alone; None before `min_samples` ticks or while the
        window holds no arrival."""
        terms = self._terms.get(key, [])
        if len(terms) < self.min_samples:
            return None
        lag1, lag2, total = (math.fsum(column) for column in zip(*terms, strict=True))
        if total <= 0:
            return None
        return math.sqrt(max(2.0 * lag1 - lag2, 0.0) / total)

    def cv(self, key: str) -> float:
        known = self._cv.get(key)
        if known is not None:
            return known
        nugget = self.nugget_cv(key)
        if nugget is None:
            return self.prior_cv
        value = self._cv[key] = max(nugget, self.pairs.cv(key))
        return value


BurstinessEstimator = DispersionEstimator | VariogramDispersionEstimator


def dispersion_estimator(kind: str) -> BurstinessEstimator:
    """The estimator a planner setting names: `median-pairs` or `variogram`."""
    if kind == "median-pairs":
        return DispersionEstimator()
    if kind == "variogram":
        return VariogramDispersionEstimator()
    raise ValueError(f"dispersion estimator {kind!r}: expected median-pairs or variogram")
