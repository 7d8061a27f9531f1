"""Red flags in how capacity arrives and what it costs: cold starts the load waits on,
slow start-ups far from the model's artifacts, GPU cost rising faster than usage."""

from __future__ import annotations

from dataclasses import dataclass

from gpusteward.core.actions import MoveReplica, Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase
from gpusteward.core.diagnosis import Cause, RedFlag, Severity
from redflags.causes import (
    PLANNER,
    attribute,
    fits,
    needed_replicas,
    prewarm_remedy,
    scale_remedy,
)
from redflags.finding import Finding, measured
from redflags.window import ARTIFACT_REGION_LABEL, DeploymentWindow, mean, of


@dataclass(frozen=True)
class ColdStartDelay:
    """The load waits on cold starts: replicas are loading while the load exceeds what the
    ready ones serve (or the queue takes `drain_share` of the SLO to clear); or, ahead of
    that, the autoscaler is not following a ramp: the load at `load_share` of the ready
    capacity, up `growth_ratio` x over `trend_seconds`, on its trend past the ready
    capacity within a cold start, two ticks and `lead_seconds`, and no replica asked for."""

    flag: RedFlag = RedFlag.COLD_START_DELAY
    troubled_only: bool = True
    every_seconds: float = 0.0
    drain_share: float = 0.5
    trend_seconds: float = 1200.0
    load_share: float = 0.8
    growth_ratio: float = 1.2
    lead_seconds: float = 600.0  # how far ahead of the need a person wants to know

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        slo = d.slo.queue_delay_seconds
        waiting = s.loading > 0 and (
            s.arrival > s.capacity or s.drain_seconds >= self.drain_share * slo
        )
        busy = s.arrival >= self.load_share * s.capacity > 0
        if not waiting and not busy:  # cheap first: most ticks are neither
            return None
        projected, growth, slope = self._projected(d, window)
        per = window.per_replica_rps
        asked = (s.ready + s.loading + s.pending) * per
        idle_scaler = not s.loading and not s.pending and s.desired <= s.ready
        ahead = busy and idle_scaler and growth >= self.growth_ratio and projected >= asked
        if not waiting and not ahead:
            return None
        cause, detail = attribute(snapshot, d, window)
        if cause is Cause.TOO_FEW_REPLICAS and not s.pending:
            cause, detail = (
                Cause.SCALE_UP_LATE,
                (
                    f"at the load's trend (+{slope * 60:.3f} req/s a minute) it needs "
                    f"{projected:.2f} req/s within one cold start ({d.cold_start_seconds:.0f} s); "
                    f"the replicas asked for serve {asked:.2f}"
                ),
            )
        return Finding(
            flag=self.flag,
            severity=Severity.CRITICAL if s.drain_seconds >= slo else Severity.WARNING,
            summary=(
                f"{s.loading} replica(s) loading while {s.arrival:.2f} req/s arrive for "
                f"{s.capacity:.2f} served"
                if waiting
                else f"load heading for {projected:.2f} req/s within a cold start; "
                f"{asked:.2f} asked for"
            ),
            evidence=(
                measured("arrival_rate", s.arrival, s.interval, baseline=s.capacity),
                measured("projected_arrival_rate", projected, self.trend_seconds, baseline=asked),
                measured("replicas_loading", s.loading, s.interval),
                measured("cold_start_seconds", d.cold_start_seconds, 0.0),
            ),
            cause=cause,
            cause_detail=detail,
            remedy=scale_remedy(
                d, window, max(projected, s.arrival), snapshot.at, "load outrunning cold starts"
            ),
            runbook="prewarm-before-launch",
        )

    def _projected(
        self, d: ModelDeployment, window: DeploymentWindow
    ) -> tuple[float, float, float]:
        """The load `lead_seconds` past one cold start and two ticks ahead, on the trend
        of the last `trend_seconds` (the last quarter's mean against the first quarter's);
        the growth between them; and the trend (req/s per second)."""
        s = window.now
        quarter = self.trend_seconds / 4
        recent = mean(of(window, quarter, 0.0, lambda x: x.arrival))
        early = mean(of(window, self.trend_seconds, 3 * quarter, lambda x: x.arrival))
        if recent <= 0 or early <= 0:
            return s.arrival, 1.0, 0.0
        slope = (recent - early) / (3 * quarter)
        ahead = d.cold_start_seconds + 2 * s.interval + self.lead_seconds
        return recent + max(0.0, slope) * ahead, recent / early, slope


@dataclass(frozen=True)
class RemoteData:
    """Replicas loading on nodes outside the region the deployment's artifacts are in
    (label gpusteward.io/artifact-region), or a replica loading for longer than
    `slow_ratio` x its declared cold start (plus a tick): the weights travel far."""

    flag: RedFlag = RedFlag.REMOTE_DATA
    troubled_only: bool = True
    every_seconds: float = 0.0
    slow_ratio: float = 1.5

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        slow = s.slowest_load > self.slow_ratio * d.cold_start_seconds + s.interval
        if not s.remote_loading and not slow:
            return None
        home = d.labels.get(ARTIFACT_REGION_LABEL)
        slo = d.slo.queue_delay_seconds
        detail = (
            f"artifacts in {home}; {s.remote_loading} replica(s) load elsewhere and pull the "
            f"weights across regions. Mirror them to the serving region, or keep {d.key} on "
            f"nodes in {home}"
            if home
            else "start-up slower than declared; where the artifacts are is not labelled "
            f"({ARTIFACT_REGION_LABEL}): check the pull path"
        )
        return Finding(
            flag=self.flag,
            severity=Severity.CRITICAL if s.drain_seconds >= slo else Severity.WARNING,
            summary=f"replica start-up {s.slowest_load:.0f} s so far against a declared "
            f"cold start of {d.cold_start_seconds:.0f} s",
            evidence=(
                measured(
                    "replica_loading_seconds",
                    s.slowest_load,
                    s.slowest_load,
                    baseline=d.cold_start_seconds,
                    threshold=self.slow_ratio * d.cold_start_seconds + s.interval,
                ),
                measured("replicas_loading_remote", s.remote_loading, s.interval),
            ),
            cause=Cause.DATA_FAR_FROM_COMPUTE,
            cause_detail=detail,
            remedy=_move_home(snapshot, d, home) or _prewarm(snapshot, d, window),
        )


def _move_home(snapshot: ClusterSnapshot, d: ModelDeployment, home: str | None) -> Proposal | None:
    """Move one loading replica to a node in the artifacts' region with room for it."""
    if home is None:
        return None
    target = next(
        (
            n
            for n in snapshot.nodes
            if n.region == home and fits(d, n) and n.free_gpus() >= d.gpus_per_replica
        ),
        None,
    )
    loading = next((r for r in d.replica_states if r.phase is ReplicaPhase.LOADING), None)
    if target is None or loading is None:
        return None
    return Proposal(
        action=MoveReplica(
            deployment=d.key, replica=loading.id, to_node=target.name, issued_at=snapshot.at
        ),
        reason=f"{target.name} is in {home}, where the artifacts are",
        planner=PLANNER,
    )


def _prewarm(
    snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
) -> Proposal | None:
    """Start the replicas the load needs now, so the longer start-up ends in time."""
    s = window.now
    want = needed_replicas(d, window, s.arrival)
    short = (want or 0) - (s.ready + s.loading + s.pending)
    if short < 1:
        return None
    why = f"start-ups take {s.slowest_load:.0f} s: start {short} more now"
    return prewarm_remedy(d, short, snapshot.at, why)


@dataclass(frozen=True)
class CostOutpacingUsage:
    """Over the last `recent_seconds`, the GPU cost rate is up `cost_ratio` x on the
    `baseline_seconds` before, the cost per request served up `per_request_ratio` x, and
    the GPUs are under `max_util` busy with nothing queued: replicas held beyond the load."""

    flag: RedFlag = RedFlag.COST_OUTPACING_USAGE
    troubled_only: bool = False
    every_seconds: float = 300.0  # hour-long windows: every 5 minutes is often enough
    recent_seconds: float = 3600.0
    baseline_seconds: float = 5 * 3600.0
    cost_ratio: float = 1.25
    per_request_ratio: float = 1.5
    max_util: float = 0.5

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None:
        s = window.now
        if s.queue or window.history_seconds() < self.recent_seconds + self.baseline_seconds / 2:
            return None
        recent = window.means(self.recent_seconds)
        base = window.means(self.recent_seconds + self.baseline_seconds, self.recent_seconds)
        if recent is None or base is None:
            return None
        c1, c0 = recent.cost_rate, base.cost_rate
        if c0 <= 0 or c1 < self.cost_ratio * c0:
            return None
        u1, u0 = recent.served, base.served
        if u0 <= 0:
            return None
        per1, per0 = c1 / max(u1, 1e-9), c0 / u0
        util = recent.util
        if per1 < self.per_request_ratio * per0 or util >= self.max_util:
            return None
        peak = max(of(window, self.recent_seconds / 2, 0.0, lambda x: x.arrival))
        want = needed_replicas(d, window, peak)
        if want is None or want >= s.desired:
            return None  # the load needs what is held: not idle replicas
        hours = self.recent_seconds / 3600
        return Finding(
            flag=self.flag,
            severity=Severity.WARNING,
            summary=f"GPU cost ${c1:.2f}/h, {c1 / c0:.1f}x the "
            f"{self.baseline_seconds / 3600:.0f} h before, for {u1 / u0:.1f}x the requests; "
            f"GPUs {util:.0%} busy",
            evidence=(
                measured(
                    "gpu_cost_rate",
                    c1,
                    self.recent_seconds,
                    baseline=c0,
                    threshold=self.cost_ratio * c0,
                ),
                measured(
                    "cost_per_1k_requests",
                    per1 / 3.6,
                    self.recent_seconds,
                    baseline=per0 / 3.6,
                    threshold=self.per_request_ratio * per0 / 3.6,
                ),
                measured("gpu_utilization", util, self.recent_seconds, threshold=self.max_util),
            ),
            cause=Cause.IDLE_REPLICAS,
            cause_detail=f"{s.desired} replica(s) held for a load that {hours:.0f} h of "
            f"traffic shows needs {want}",
            remedy=scale_remedy(d, window, peak, snapshot.at, "replicas idle", up=False),
            runbook="consolidate-underused-pool",
        )
