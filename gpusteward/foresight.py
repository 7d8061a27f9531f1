"""The future load of a simulated run, for the oracle and static-peak planners.

Composition-root only (it reads the scenario's traces through the simulator's trace
loader); planners see it as `agents.scaling.LoadOutlook`. Pickles small: each
`ArrivalTrace` pickles as its spec and re-reads the (cached) file on load.
"""

from __future__ import annotations

from datetime import datetime

from gpusteward.sim.spec import SimSpec
from gpusteward.sim.traces import ArrivalTrace, RateTable


class TraceOutlook:
    """Expected request rate per deployment, at the simulator's step, from its trace."""

    def __init__(self, spec: SimSpec, duration_seconds: float) -> None:
        self.start = spec.start
        self.step = spec.step_seconds
        self.duration = duration_seconds
        self.traces = {m.key: ArrivalTrace(m.trace) for m in spec.models}
        self._peaks: dict[str, float] = {}

    def _rate(self, key: str, t: float) -> float:
        return self.traces[key].expected(t, self.step) / self.step

    def peak_rate(self, key: str, start: datetime, end: datetime) -> float:
        t0 = (start - self.start).total_seconds()
        t1 = (end - self.start).total_seconds()
        t, best = max(0.0, t0), 0.0
        while t < t1:
            best = max(best, self._rate(key, t))
            t += self.step
        return best

    def burstiness_cv(self, key: str) -> float:
        """The trace's cv: its per-window cvs' rate-weighted mean, else the spec's."""
        trace = self.traces[key]
        data = trace.data
        if isinstance(data, RateTable) and data.cvs is not None and data.rates.sum() > 0:
            return float((data.cvs * data.rates).sum() / data.rates.sum())
        return trace.spec.burstiness_cv

    def overall_peak(self, key: str) -> float:
        if key not in self._peaks:
            trace = self.traces[key]
            data = trace.data
            if isinstance(data, RateTable):
                self._peaks[key] = float(data.rates.max()) * trace.spec.scale
            else:
                steps = int(self.duration // self.step)
                self._peaks[key] = max(self._rate(key, i * self.step) for i in range(steps))
        return self._peaks[key]
