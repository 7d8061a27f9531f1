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

    def burstiness_cv(
        self, key: str, start: datetime | None = None, end: datetime | None = None
    ) -> float:
        """The cv of `key`'s arrivals. Over [start, end): the highest cv of the trace's
        windows with traffic there (servegen-client rows carry one each), as the load is
        its peak there; without them, the run's cv: the per-window cvs' rate-weighted
        mean. A trace without per-window cvs has the spec's."""
        trace = self.traces[key]
        data = trace.data
        if not isinstance(data, RateTable) or data.cvs is None or data.rates.sum() <= 0:
            return trace.spec.burstiness_cv
        # the oracle asks every step of every tick; a checkpoint may predate the cache
        means: dict[str, float] = self.__dict__.setdefault("_mean_cvs", {})
        if key not in means:
            means[key] = float((data.cvs * data.rates).sum() / data.rates.sum())
        mean = means[key]
        if start is None or end is None:
            return mean
        t0 = max(0.0, (start - self.start).total_seconds())
        t1 = (end - self.start).total_seconds()
        seen: set[int] = set()
        t = t0
        while t < t1:
            i = trace.window_at(t)
            if i is not None and data.rates[i] > 0:
                seen.add(i)
            t += self.step
        return max((float(data.cvs[i]) for i in seen), default=mean)

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
