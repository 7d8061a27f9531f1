"""Each deployment's recent serving metrics: one `Sample` a tick, kept for `keep_seconds`.

The detectors read windows of these (the last minutes, the hours before as a baseline);
nothing else is remembered between ticks, apart from when each replica started loading.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, Node, ReplicaPhase

ARTIFACT_REGION_LABEL = "gpusteward.io/artifact-region"  # where the weights are stored
NEVER_SECONDS = 86_400.0  # a queue that nothing serves "drains" in a day


@dataclass(slots=True)
class Sample:
    """One deployment at one tick (`t`: seconds since the epoch)."""

    t: float
    interval: float
    arrival: float  # req/s over the interval
    served: float  # req/s
    queue: int
    delay_p95: float  # seconds
    util: float  # GPU utilisation, 0-1
    capacity: float  # req/s the ready replicas serve
    attainment: float | None
    desired: int
    ready: int
    loading: int
    pending: int
    cost_rate: float  # USD per hour for the GPUs its replicas hold
    slowest_load: float  # seconds the longest-loading replica has been loading (0: none)
    remote_loading: int  # replicas loading on a node outside the artifacts' region

    @property
    def drain_seconds(self) -> float:
        """How long the queue takes to clear at the rate it is being served (a day, when
        nothing is served: evidence stays a finite number)."""
        if self.queue <= 0:
            return 0.0
        rate = max(self.served, self.capacity)
        return NEVER_SECONDS if rate <= 0 else min(NEVER_SECONDS, self.queue / rate)


@dataclass
class DeploymentWindow:
    """Samples of one deployment, oldest first, with running sums for long windows."""

    keep_seconds: float
    samples: list[Sample] = field(default_factory=list)  # live from index `first`
    first: int = 0
    times: list[float] = field(default_factory=list)  # each sample's t, for bisection
    sums: list[tuple[float, float, float, int]] = field(default_factory=list)  # cumulative
    loading_since: dict[str, float] = field(default_factory=dict)  # replica id -> first seen
    per_replica_rps: float = 0.0  # last measured capacity of one ready replica
    replicas_of: tuple[ModelDeployment, _Replicas] | None = None  # the last walk's result

    def add(self, sample: Sample) -> None:
        cost, served, util, ready = self.sums[-1] if self.sums else (0.0, 0.0, 0.0, 0)
        self.samples.append(sample)
        self.times.append(sample.t)
        self.sums.append(
            (
                cost + sample.cost_rate,
                served + sample.served,
                util + (sample.util if sample.ready else 0.0),
                ready + (1 if sample.ready else 0),
            )
        )
        horizon = sample.t - self.keep_seconds
        while self.samples[self.first].t < horizon:
            self.first += 1
        if self.first > 1024 and self.first * 2 > len(self.samples):
            del self.samples[: self.first], self.times[: self.first], self.sums[: self.first]
            self.first = 0
        if sample.ready > 0 and sample.capacity > 0:
            self.per_replica_rps = sample.capacity / sample.ready

    @property
    def now(self) -> Sample:
        return self.samples[-1]

    def count(self) -> int:
        return len(self.samples) - self.first

    def last(self, n: int) -> list[Sample]:
        """The newest `n` samples (fewer when the window holds fewer), oldest first."""
        return self.samples[max(self.first, len(self.samples) - n) :]

    def back(self, k: int) -> Sample:
        """The sample `k` ticks before now (0: now); the caller checks `count() > k`."""
        return self.samples[-1 - k]

    def span(self, start_ago: float, end_ago: float = 0.0) -> Iterator[Sample]:
        """Samples with now - start_ago < t <= now - end_ago, newest first (short spans)."""
        t = self.samples[-1].t
        lo, hi = t - start_ago, t - end_ago
        for i in range(len(self.samples) - 1, self.first - 1, -1):
            s = self.samples[i]
            if s.t <= lo:
                break
            if s.t <= hi:
                yield s

    def means(self, start_ago: float, end_ago: float = 0.0) -> Means | None:
        """Mean cost rate, served rate and GPU utilisation (ticks with a ready replica)
        over now - start_ago < t <= now - end_ago, from the running sums (long spans);
        None when no sample falls in it."""
        t = self.samples[-1].t
        a = bisect_right(self.times, t - start_ago, lo=self.first)
        b = bisect_right(self.times, t - end_ago, lo=a)
        if b <= a:
            return None
        hi = self.sums[b - 1]
        lo = self.sums[a - 1] if a > 0 else (0.0, 0.0, 0.0, 0)
        n, ready = b - a, hi[3] - lo[3]
        util = (hi[2] - lo[2]) / ready if ready else 0.0
        return Means((hi[0] - lo[0]) / n, (hi[1] - lo[1]) / n, util, n)

    def history_seconds(self) -> float:
        return self.samples[-1].t - self.samples[self.first].t if self.samples else 0.0


@dataclass(frozen=True, slots=True)
class Means:
    cost_rate: float
    served: float
    util: float
    samples: int


CALM_DELAY_SHARE = 0.5  # of the SLO's queueing delay
CALM_LOAD_SHARE = 0.8  # of what the ready replicas serve


def calm(window: DeploymentWindow, slo_delay: float) -> bool:
    """Nothing a load or start-up red flag needs: no queue, no replica loading or pending,
    p95 queueing under half the SLO (now and a tick before), the load under 80 % of what
    ready replicas serve. Detectors that are `troubled_only` cannot fire on it."""
    s = window.now
    if s.queue or s.loading or s.pending or s.remote_loading:
        return False
    if s.delay_p95 >= CALM_DELAY_SHARE * slo_delay or s.arrival >= CALM_LOAD_SHARE * s.capacity:
        return False
    before = window.back(1) if window.count() > 1 else s
    return before.delay_p95 < CALM_DELAY_SHARE * slo_delay


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def of(
    window: DeploymentWindow, start_ago: float, end_ago: float, get: Callable[[Sample], float]
) -> list[float]:
    """`get` of each sample in the span (newest first)."""
    return [get(s) for s in window.span(start_ago, end_ago)]


class NodeIndex:
    """The snapshot's nodes by name, built on first use (most ticks need none)."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self._nodes = nodes
        self._by_name: dict[str, Node] | None = None

    def get(self, name: str) -> Node | None:
        if self._by_name is None:
            self._by_name = {n.name: n for n in self._nodes}
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True)
class _Replicas:
    """What a deployment's replicas add up to (kept while the deployment object is the
    same: a backend that reuses unchanged objects saves the walk)."""

    cost: float
    ready: int
    loading: int
    pending: int
    slowest: float
    remote: int


def _replicas(
    d: ModelDeployment, nodes: NodeIndex, window: DeploymentWindow, t: float
) -> _Replicas:
    home = d.labels.get(ARTIFACT_REGION_LABEL)
    cost = slowest = 0.0
    remote = ready = loading = pending = 0
    seen: set[str] = set()
    for r in d.replica_states:
        node = nodes.get(r.node) if r.node else None
        if node is not None:
            cost += node.price_per_gpu_hour * d.gpus_per_replica
        if r.phase is ReplicaPhase.READY:
            ready += 1
        elif r.phase is ReplicaPhase.PENDING:
            pending += 1
        if r.phase is not ReplicaPhase.LOADING:
            continue
        loading += 1
        seen.add(r.id)
        since = window.loading_since.setdefault(r.id, t)
        slowest = max(slowest, t - since)
        if home is not None and node is not None and node.region != home:
            remote += 1
    if len(seen) != len(window.loading_since):
        for gone in [k for k in window.loading_since if k not in seen]:
            del window.loading_since[gone]
    return _Replicas(cost, ready, loading, pending, slowest, remote)


def sample_of(
    snapshot: ClusterSnapshot,
    d: ModelDeployment,
    nodes: NodeIndex,
    window: DeploymentWindow,
    t: float,
) -> Sample | None:
    """The deployment's sample at this snapshot, `t` its time in epoch seconds (None
    without metrics: no information)."""
    m = snapshot.metrics.get(d.key)
    if m is None:
        return None
    cached = window.replicas_of
    if cached is not None and cached[0] is d and not cached[1].loading:
        r = cached[1]
    else:
        r = _replicas(d, nodes, window, t)
        window.replicas_of = (d, r)
    return Sample(
        t=t,
        interval=snapshot.interval_seconds,
        arrival=m.arrival_rate_rps,
        served=m.served_rate_rps,
        queue=m.queue_depth,
        delay_p95=m.queue_delay_p95_seconds,
        util=m.gpu_utilization,
        capacity=m.capacity_rps,
        attainment=m.slo_attainment,
        desired=d.replicas,
        ready=r.ready,
        loading=r.loading,
        pending=r.pending,
        cost_rate=r.cost,
        slowest_load=r.slowest,
        remote_loading=r.remote,
    )
