"""Baseline planners to compare against: static peak, Knative-KPA-like, Dynamo-like, oracle.

- static peak: a fixed replica count sized once for the run's peak load (+ headroom).
- KPA-like: replicas = ceil(demand / (per-replica capacity x target utilisation)) over a
  60 s stable window; panic mode when the demand over the (shorter) panic window reaches
  200 % of ready capacity: then it never scales down until the panic has been quiet
  for a stable window. Scale-down is limited to halving per step (Knative's default).
- Dynamo-like: the last observed load, converted to replicas, is a floor; above it a
  +/-1 reactive loop on utilisation and queue.
- oracle: perfect knowledge of the load and its burstiness; replicas = fewest whose
  capacity at SLO covers the highest load until a new replica would be ready (each
  started exactly one cold start early). Capacity at SLO = the profile's throughput x the
  highest utilisation at which a steady window at that load, with the trace's burstiness,
  still meets the SLO's attainment target (`agents.slo_capacity`). So the oracle meets
  about the SLO itself, and its GPU-hours are a fair lower bound for a planner that must.
Capacities come from `CapacityModel` (priors from the model profile, refined online);
the utilisation-target baselines (KPA-, Dynamo-like, static peak) use raw throughput.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import Field

from agents.capacity import CapacityModel, Priors, free_slots
from agents.scaling import LoadOutlook, ev, live_demand, scale_proposal
from gpusteward.core.actions import Evidence, Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.remembered import Remembers


class StaticPeakConfig(Frozen):
    kind: Literal["static-peak"] = "static-peak"
    headroom: float = Field(default=0.0, ge=0, description="Over the peak: 0.2 = 20 %.")


class KpaConfig(Frozen):
    kind: Literal["kpa"] = "kpa"
    target_utilisation: float = Field(default=0.7, gt=0, le=1)
    stable_window_seconds: float = Field(default=60.0, gt=0)
    panic_window_seconds: float = Field(default=6.0, gt=0)
    panic_threshold: float = Field(default=2.0, gt=1, description="Demand / ready capacity.")
    max_scale_down_rate: float = Field(default=2.0, ge=1)


class DynamoConfig(Frozen):
    kind: Literal["dynamo"] = "dynamo"
    scale_up_utilisation: float = Field(default=0.9, gt=0, le=1)
    scale_down_utilisation: float = Field(default=0.6, ge=0, lt=1)


class OracleConfig(Frozen):
    kind: Literal["oracle"] = "oracle"


Sizing = tuple[int, str, list[Evidence]]
"""Replicas wanted for one deployment, why, and the evidence."""


class DeploymentSizer(Remembers):
    """What the baselines share: each tick, every live deployment sized on its own
    (`size`; None leaves it alone), and a scale proposal where that changes its replicas."""

    name: str
    remembers: ClassVar[tuple[str, ...]] = ("capacity",)
    learns_capacity: ClassVar[bool] = False  # refine capacity per replica from each snapshot
    capacity: CapacityModel

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        if self.learns_capacity:
            self.capacity.observe(snapshot)
        out = []
        for d in snapshot.deployments:
            sized = None if d.retired else self.size(snapshot, d)
            if sized is None:
                continue
            want, why, evidence = sized
            p = scale_proposal(self.name, snapshot.at, d, want, why, evidence)
            if p is not None:
                out.append(p)
        return out

    def size(self, snapshot: ClusterSnapshot, d: ModelDeployment) -> Sizing | None:
        raise NotImplementedError


class StaticPeakPlanner(DeploymentSizer):
    name = "static-peak"

    def __init__(self, config: StaticPeakConfig, priors: Priors, outlook: LoadOutlook) -> None:
        self.config, self.outlook = config, outlook
        self.capacity = CapacityModel(priors)

    def size(self, snapshot: ClusterSnapshot, d: ModelDeployment) -> Sizing:
        peak = self.outlook.overall_peak(d.key) * (1 + self.config.headroom)
        want = self.capacity.replicas_for(snapshot, d, peak)
        room = len([r for r in d.replica_states if r.node is not None]) + len(
            free_slots(snapshot, d)
        )
        want = min(want, max(room, d.replicas))  # what fits: never ask the impossible
        return (
            want,
            f"static pool sized for the run's peak {peak:.2f} req/s",
            [ev("peak_rate", peak, "req/s")],
        )


class KpaPlanner(DeploymentSizer):
    name = "kpa"
    remembers = ("capacity", "_panic_until")
    learns_capacity = True

    def __init__(self, config: KpaConfig, priors: Priors) -> None:
        self.config = config
        self.capacity = CapacityModel(priors)
        self._panic_until: dict[str, datetime] = {}

    def size(self, snapshot: ClusterSnapshot, d: ModelDeployment) -> Sizing | None:
        cfg = self.config
        m = snapshot.metrics.get(d.key)
        if m is None or not self.capacity.knows(d.key):
            return None  # without a capacity per replica, sizing would be a guess
        # With one observation per tick, both windows see the tick's average demand.
        demand = live_demand(m, snapshot.interval_seconds)
        want = self.capacity.replicas_for(snapshot, d, demand / cfg.target_utilisation)
        ready_cap = m.capacity_rps
        panicking = ready_cap > 0 and demand / ready_cap >= cfg.panic_threshold
        if panicking or (ready_cap == 0 and demand > 0):
            self._panic_until[d.key] = snapshot.at + timedelta(seconds=cfg.stable_window_seconds)
        in_panic = snapshot.at < self._panic_until.get(d.key, snapshot.at)
        if in_panic or panicking:
            want = max(want, d.replicas)
        else:
            want = max(want, math.floor(d.replicas / cfg.max_scale_down_rate))
        return (
            max(want, 1 if demand > 0 else 0),
            f"KPA: demand {demand:.2f} req/s at {cfg.target_utilisation:.0%} target"
            + (" (panic mode)" if in_panic or panicking else ""),
            [ev("demand", demand, "req/s"), ev("ready_capacity", ready_cap, "req/s")],
        )


class DynamoPlanner(DeploymentSizer):
    name = "dynamo"
    learns_capacity = True

    def __init__(self, config: DynamoConfig, priors: Priors) -> None:
        self.config = config
        self.capacity = CapacityModel(priors)

    def size(self, snapshot: ClusterSnapshot, d: ModelDeployment) -> Sizing | None:
        cfg = self.config
        m = snapshot.metrics.get(d.key)
        if m is None or not self.capacity.knows(d.key):
            return None  # without a capacity per replica, sizing would be a guess
        floor = self.capacity.replicas_for(snapshot, d, m.arrival_rate_rps)
        ready = d.count(ReplicaPhase.READY)
        step = 0
        if m.queue_depth > 0 or m.gpu_utilization >= cfg.scale_up_utilisation:
            step = 1
        elif ready and m.gpu_utilization < cfg.scale_down_utilisation:
            # not when the rest would be busy enough to step straight back up
            rest = m.gpu_utilization * ready / (ready - 1) if ready > 1 else m.gpu_utilization
            if rest < cfg.scale_up_utilisation and (ready > 1 or m.gpu_utilization == 0):
                step = -1
        return (
            max(floor, d.replicas + step),
            f"Dynamo-like: last-value floor {floor}, utilisation "
            f"{m.gpu_utilization:.0%} ({step:+d})",
            [ev("floor_replicas", floor), ev("gpu_utilization", m.gpu_utilization)],
        )


class OraclePlanner(DeploymentSizer):
    name = "oracle"

    def __init__(self, config: OracleConfig, priors: Priors, outlook: LoadOutlook) -> None:
        self.config, self.outlook = config, outlook
        self.capacity = CapacityModel(priors, at_slo=True)

    def size(self, snapshot: ClusterSnapshot, d: ModelDeployment) -> Sizing:
        step = snapshot.interval_seconds
        until = snapshot.at + timedelta(seconds=d.cold_start_seconds + step)
        # each step's known rate at its own window's burstiness: capacity at SLO
        # depends on both, so the binding step is the one needing the most replicas
        want, load, util = 0, 0.0, 1.0
        t = snapshot.at
        while t < until:
            end = min(until, t + timedelta(seconds=step))
            rate = self.outlook.peak_rate(d.key, t, end)
            self.capacity.burstiness[d.key] = self.outlook.burstiness_cv(d.key, t, end)
            need = self.capacity.replicas_for(snapshot, d, rate)
            if need > want or (need == want and rate > load):
                want, load = need, rate
                util = self.capacity.utilisation(d, rate, step)
            t = end
        return (
            want,
            f"oracle: peak load {load:.2f} req/s before {until:%H:%M:%S} at "
            f"{util:.0%} utilisation (SLO)",
            [ev("known_peak", load, "req/s"), ev("utilisation_at_slo", util)],
        )
