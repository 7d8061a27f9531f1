"""Red flags the load shows first: latency spikes in a burst, GPUs stuck cold under load,
requests queueing up.

Every threshold is relative: to the deployment's own SLO (queueing delay), its own
capacity, or its own recent load. None is a number of requests, so they hold on a model
of any size.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment
from gpusteward.core.diagnosis import Cause, RedFlag, Severity
from redflags.causes import attribute, scale_remedy
from redflags.finding import Finding, measured
from redflags.window import DeploymentWindow, mean, median, of


@dataclass(frozen=True)
class BurstLatency:
    """Arrivals over the last `recent_seconds` at least `burst_ratio` x their median over
    the `baseline_seconds` before, and the burst is pressing: p95 queueing delay at
    `delay_share` of the SLO, or the load now at `load_share` of what ready replicas
    serve."""

    flag: RedFlag = RedFlag.BURST_LATENCY
    troubled_only: bool = True
    every_seconds: float = 0.0
    recent_seconds: float = 180.0
    baseline_seconds: float = 1800.0
    burst_ratio: float = 1.5
    delay_share: float = 0.5
    load_share: float = 0.9

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        latest = window.last(max(1, round(self.recent_seconds / s.interval)))
        recent = sum(x.arrival for x in latest) / len(latest)
        slo = d.slo.queue_delay_seconds
        delay = max(x.delay_p95 for x in latest[-2:])
        pressed = (
            delay >= self.delay_share * slo
            or (s.capacity > 0 and s.arrival >= self.load_share * s.capacity)
            or (s.capacity <= 0 and s.arrival > 0)
        )
        if not pressed:  # checked first: it is cheap, and most ticks are not pressed
            return None
        base_values = of(
            window,
            self.recent_seconds + self.baseline_seconds,
            self.recent_seconds,
            lambda x: x.arrival,
        )
        if len(base_values) * s.interval < self.baseline_seconds / 3:
            return None  # too little history for a baseline
        base = median(base_values)
        if base <= 0 or recent < self.burst_ratio * base:
            return None
        cause, detail = attribute(snapshot, d, window)
        return Finding(
            flag=self.flag,
            severity=Severity.CRITICAL if delay > slo else Severity.WARNING,
            summary=f"burst: {recent:.2f} req/s, {recent / base:.1f}x the last "
            f"{self.baseline_seconds / 60:.0f} min; p95 queueing {delay:.2f} s of {slo:g} s",
            evidence=(
                measured(
                    "arrival_rate",
                    recent,
                    self.recent_seconds,
                    baseline=base,
                    threshold=self.burst_ratio * base,
                ),
                measured(
                    "queue_delay_p95",
                    delay,
                    2 * s.interval,
                    baseline=slo,
                    threshold=self.delay_share * slo,
                ),
                measured("capacity", s.capacity, s.interval),
            ),
            cause=cause,
            cause_detail=detail,
            remedy=scale_remedy(d, window, recent, snapshot.at, "burst"),
            runbook="prewarm-before-launch" if cause is Cause.SCALE_UP_LATE else None,
        )


@dataclass(frozen=True)
class LowUtilisation:
    """For `ticks` ticks in a row: requests waiting, ready replicas, and GPU utilisation
    below `max_util` (the GPUs are not the bottleneck), with the queue growing or taking
    `drain_share` of the SLO to clear."""

    flag: RedFlag = RedFlag.LOW_UTILISATION
    troubled_only: bool = True
    every_seconds: float = 0.0
    ticks: int = 2
    max_util: float = 0.5
    drain_share: float = 0.5

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        if not s.queue or s.util >= self.max_util or window.count() < self.ticks:
            return None
        last = [window.back(k) for k in range(self.ticks - 1, -1, -1)]
        if not all(x.ready and x.queue and x.util < self.max_util for x in last):
            return None
        slo = d.slo.queue_delay_seconds
        growing = s.queue > last[0].queue
        if not growing and s.drain_seconds < self.drain_share * slo:
            return None
        util = mean([x.util for x in last])
        span = self.ticks * s.interval
        per = window.per_replica_rps
        return Finding(
            flag=self.flag,
            severity=Severity.CRITICAL if s.drain_seconds >= slo else Severity.WARNING,
            summary=f"GPUs {util:.0%} busy while the queue grows to {s.queue} "
            f"({s.ready} ready replicas serving {s.served:.2f} req/s)",
            evidence=(
                measured("gpu_utilization", util, span, threshold=self.max_util),
                measured("queue_depth", s.queue, span, baseline=last[0].queue),
                measured("per_replica_throughput", per, s.interval),
            ),
            cause=Cause.BATCH_OR_GPU_MISFIT,
            cause_detail=(
                f"each replica serves {per:.2f} req/s with its GPUs {util:.0%} busy: the "
                "batch (max concurrent sequences) is too small for the load, or the GPU "
                "type does not fit it. Raise the server's batch size; until then more "
                "replicas carry the load"
            ),
            remedy=scale_remedy(
                d, window, s.arrival, snapshot.at, "GPUs under-used, queue growing"
            ),
        )


@dataclass(frozen=True)
class QueueGrowth:
    """The queue takes at least `drain_share` of the SLO's queueing delay to clear at the
    rate it is served, and grew over the last `ticks` ticks (or already takes the SLO)."""

    flag: RedFlag = RedFlag.QUEUE_GROWTH
    troubled_only: bool = True
    every_seconds: float = 0.0
    drain_share: float = 0.5
    ticks: int = 2

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        slo = d.slo.queue_delay_seconds
        drain = s.drain_seconds
        if drain < self.drain_share * slo or window.count() <= self.ticks:
            return None
        before = window.back(self.ticks)
        if s.queue <= before.queue and drain < slo:
            return None
        cause, detail = attribute(snapshot, d, window)
        return Finding(
            flag=self.flag,
            severity=Severity.CRITICAL if drain >= slo else Severity.WARNING,
            summary=f"{s.queue} requests queued ({drain:.1f} s to clear at "
            f"{max(s.served, s.capacity):.2f} req/s; SLO {slo:g} s), up from {before.queue}",
            evidence=(
                measured("queue_depth", s.queue, self.ticks * s.interval, baseline=before.queue),
                measured(
                    "queue_drain_seconds",
                    drain,
                    s.interval,
                    baseline=slo,
                    threshold=self.drain_share * slo,
                ),
            ),
            cause=cause,
            cause_detail=detail,
            remedy=scale_remedy(
                d, window, s.arrival + s.queue / max(slo, s.interval), snapshot.at, "queue growing"
            ),
        )
