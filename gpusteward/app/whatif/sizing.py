"""The sizing of a load what-if: per step of the window, the replicas each model needs to
hold its SLO at that load (the trace's expected rate and burstiness, the capacity at SLO
of `agents.slo_capacity` on the model's fastest GPU type in the cluster), with no replica
bound and no cluster limit: the GPUs and cost that would hold the SLO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.slo_capacity import utilisation_at_slo
from gpusteward.app.foresight import TraceOutlook
from gpusteward.app.scenario import Scenario
from gpusteward.core.errors import InputError
from gpusteward.sim.spec import ModelSpec, NodeGroupSpec


@dataclass(frozen=True)
class ModelNeed:
    """Replicas (and GPUs) a model needs per step to hold its SLO at the what-if load."""

    key: str
    gpu_type: str
    gpus_per_replica: int
    price_per_gpu_hour: float
    max_replicas: int
    at: tuple[datetime, ...]
    rate_rps: tuple[float, ...]
    replicas: tuple[int, ...]

    @property
    def peak_replicas(self) -> int:
        return max(self.replicas, default=0)

    @property
    def peak_gpus(self) -> int:
        return self.peak_replicas * self.gpus_per_replica

    def gpu_hours(self, step_seconds: float) -> float:
        return sum(self.replicas) * self.gpus_per_replica * step_seconds / 3600.0

    def first_over_max(self) -> datetime | None:
        """When the model first needs more replicas than its max_replicas allows."""
        return next(
            (t for t, r in zip(self.at, self.replicas, strict=True) if r > self.max_replicas), None
        )


def fastest_type(m: ModelSpec, groups: tuple[NodeGroupSpec, ...]) -> NodeGroupSpec:
    """The cluster's node group of the GPU type on which `m` serves the most per replica
    (the cheapest such group on a tie)."""
    usable = [g for g in groups if g.gpu_type in m.profile.throughput_rps]
    if not usable:
        raise InputError(
            f"model {m.key}: no node group of the cluster has a GPU type its profile serves "
            f"on ({', '.join(m.profile.throughput_rps)}). Fix: the scenario's cluster or profile"
        )
    return max(usable, key=lambda g: (m.profile.throughput_rps[g.gpu_type], -g.price_per_gpu_hour))


def size_to_hold(scn: Scenario, since: datetime) -> dict[str, ModelNeed]:
    """Per model and step from `since`, the fewest replicas of its fastest GPU type whose
    capacity at SLO covers the trace's expected rate (no max_replicas, no cluster limit)."""
    spec = scn.sim_spec()
    step = scn.tick_seconds
    outlook = TraceOutlook(spec, scn.duration_seconds)
    skip = int((since - scn.start).total_seconds() // step)
    steps = range(skip, int(scn.duration_seconds // step))
    out = {}
    for m in spec.models:
        group = fastest_type(m, spec.cluster.node_groups)
        per_replica = m.profile.throughput_rps[group.gpu_type]
        ats, rates, replicas = [], [], []
        for i in steps:
            at = scn.start + timedelta(seconds=i * step)
            rate = outlook.peak_rate(m.key, at, at + timedelta(seconds=step))
            cv = outlook.burstiness_cv(m.key, at, at + timedelta(seconds=step))
            util = utilisation_at_slo(
                rate,
                cv=cv,
                slo_seconds=m.slo.queue_delay_seconds,
                step_seconds=step,
                attainment=m.slo.attainment_target,
            )
            need = math.ceil(rate / util / per_replica - 1e-9) if rate > 0 else 0
            ats.append(at)
            rates.append(rate)
            replicas.append(max(m.min_replicas, need))
        out[m.key] = ModelNeed(
            m.key,
            group.gpu_type,
            m.gpus_per_replica,
            group.price_per_gpu_hour,
            m.max_replicas,
            tuple(ats),
            tuple(rates),
            tuple(replicas),
        )
    return out
