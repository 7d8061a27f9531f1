"""Request traces turned into per-step arrival counts.

A `TraceSpec` names a CSV file and its format; `ArrivalTrace` loads it once into numpy
arrays and draws how many requests arrive in one simulator step. Burstiness follows the
trace (servegen-client rows carry their own CV) or `TraceSpec.burstiness_cv`: the count
in a step has variance / mean close to cv^2 (1 = Poisson, 0 = deterministic).
"""

from __future__ import annotations

import math

import numpy as np

from gpusteward.core.errors import ScenarioError
from gpusteward.sim.spec import TraceSpec
from gpusteward.sim.trace_files import (
    MAX_RATE_RPS,
    RateTable,
    RequestTimes,
    load_trace_data,
)

__all__ = ["MAX_RATE_RPS", "ArrivalTrace", "RateTable", "RequestTimes", "load_trace_data"]


class ArrivalTrace:
    """Draws per-step arrival counts from one trace; holds only a fractional carry as state."""

    def __init__(self, spec: TraceSpec) -> None:
        self.spec = spec
        self.data = load_trace_data(spec.file, spec.format, spec.column)
        self.carry = 0.0  # fractional requests owed by deterministic rounding
        length = self.data.duration_seconds
        if not spec.loop and spec.offset_seconds >= length:
            raise ScenarioError(
                f"{spec.file}: trace offset_seconds {spec.offset_seconds:.0f} is past the "
                f"trace's end ({length:.0f} s) and loop is off: no request would arrive. Fix: "
                f"an offset under {length:.0f} s, or loop: true."
            )

    def __getstate__(self) -> dict[str, object]:
        # Checkpoints carry only the mutable carry; the data is re-read (and cached) on load.
        return {"spec": self.spec, "carry": self.carry}

    def __setstate__(self, state: dict[str, object]) -> None:
        spec = state["spec"]
        assert isinstance(spec, TraceSpec)
        self.spec = spec
        self.data = load_trace_data(spec.file, spec.format, spec.column)
        carry = state["carry"]
        assert isinstance(carry, float)
        self.carry = carry

    def _trace_time(self, t: float) -> float | None:
        """Where trace time `t` (seconds since start) falls in the file; None past its end."""
        duration = self.data.duration_seconds
        pos = t + self.spec.offset_seconds
        if self.spec.loop:
            return pos % duration
        return pos if pos < duration else None

    def window_at(self, t: float) -> int | None:
        """Index of the rate-table window that time `t` falls in; None past the trace's end
        or for a request-level trace."""
        if not isinstance(self.data, RateTable):
            return None
        pos = self._trace_time(t)
        return None if pos is None else int(pos // self.data.window_seconds)

    def expected(self, t: float, dt: float) -> float:
        """Mean number of requests in [t, t + dt) for a rate trace (scale included)."""
        data = self.data
        scale = self.spec.scale * self.spec.multiplier_at(t)
        if not isinstance(data, RateTable):
            return float(self.count_requests(t, dt)) * scale
        pos = self._trace_time(t)
        if pos is None:
            return 0.0
        return float(data.rates[int(pos // data.window_seconds)]) * scale * dt

    def count_requests(self, t: float, dt: float) -> int:
        """Real requests of a request trace in [t, t + dt), before scaling."""
        data = self.data
        assert isinstance(data, RequestTimes)
        pos = self._trace_time(t)
        if pos is None:
            return 0
        times, duration = data.times, data.duration_seconds
        end = pos + dt
        n = 0
        while end > pos:  # a step may wrap around the end of a looping trace
            stop = min(end, duration)
            n += int(np.searchsorted(times, stop, "left") - np.searchsorted(times, pos, "left"))
            if not self.spec.loop or end <= duration:
                break
            pos, end = 0.0, end - duration
        return n

    def arrivals(self, t: float, dt: float, rng: np.random.Generator) -> int:
        """Requests arriving in the step [t, t + dt), t in seconds since the start."""
        data = self.data
        scale = (
            self.spec.scale * self.spec.multiplier_at(t) if self.spec.events else self.spec.scale
        )
        if isinstance(data, RequestTimes):
            return self._scaled(self.count_requests(t, dt), rng, scale)
        pos = self._trace_time(t)
        if pos is None:
            return 0
        i = int(pos // data.window_seconds)
        mean = float(data.rates[i]) * scale * dt
        if mean <= 0.0:
            return 0
        cv = float(data.cvs[i]) if data.cvs is not None else self.spec.burstiness_cv
        return self._bursty(mean, cv, rng)

    def _scaled(self, n: int, rng: np.random.Generator, scale: float) -> int:
        if scale == 1.0 or n == 0:
            return n
        whole = math.floor(scale)
        extra = int(rng.binomial(n, scale - whole)) if scale > whole else 0
        return n * whole + extra

    def _deterministic(self, mean: float) -> int:
        total = mean + self.carry
        n = math.floor(total)
        self.carry = total - n
        return n

    def _bursty(self, mean: float, cv: float, rng: np.random.Generator) -> int:
        """A count with E = mean and Var / E ~= cv^2."""
        c2 = cv * cv
        if c2 == 0.0:
            return self._deterministic(mean)
        if c2 < 1.0:  # under-dispersed: a deterministic part plus a Poisson part
            return self._deterministic(mean * (1.0 - c2)) + int(rng.poisson(mean * c2))
        if c2 == 1.0:
            return int(rng.poisson(mean))
        extra = c2 - 1.0  # over-dispersed: Poisson with a gamma-distributed rate
        return int(rng.poisson(rng.gamma(mean / extra, extra)))
