"""GPU-type choice: move a deployment to the GPU type that serves its demand at SLO for
the least money (issue 8, item 5).

For each live realtime or batch deployment whose throughput profile lists several GPU
types, the planner asks `cheapest_gpu_type` which type meets the demand (the larger of the
arrival rate and the forecasts' p90, turned into the raw capacity its queueing-delay SLO
needs) for the lowest hourly price, and compares it with the type the replicas run on now,
both priced for the same demand, so the ratio of the hourly costs is the ratio of the
costs per served request. When the current type costs more than `1 + margin` times the
cheapest, it proposes `MoveDeployment(to_gpu_type=...)`, with the costs of every option as
evidence.

- Throughput per replica comes from a `CapacityModel` seeded with the profiles (priors) and
  refined from the observed capacity of ready replicas; types without a profile are never
  candidates.
- Price of a target type is the highest price among the schedulable nodes of that type the
  deployment may use (a saving is never overstated); the current type is priced at what
  its replicas' GPUs cost now.
- A target type must have free GPUs for all of the deployment's current replicas (a move
  starts the new replicas before the old ones stop), on nodes it may use: allowed pools,
  enough GPU memory, realtime never on a training pool.
- Nothing is proposed for a deployment mid-scale or mid-move (a replica not Ready, or the
  spec differs from the Ready count), spread over several GPU types, without traffic, or
  within `cooldown_seconds` of the last move proposed for it (a move the composite
  planner dropped because another planner touched the deployment starts no cooldown).

Stateful only in its capacity estimates and its cooldown memory, both keyed by what the
snapshots say (a replay gives the same proposals). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from agents.capacity import CapacityModel, Priors, can_host
from agents.placement.gpu_choice import GpuChoice, GpuOption, cheapest_gpu_type
from gpusteward.core.actions import Evidence, MoveDeployment, Proposal
from gpusteward.core.cluster import (
    ClusterSnapshot,
    ModelDeployment,
    ReplicaPhase,
    WorkloadClass,
)
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.remembered import Remembers


class GpuChoiceConfig(Frozen):
    kind: Literal["gpu-choice"] = "gpu-choice"
    margin: float = Field(
        default=0.1,
        ge=0,
        description="Move only when the current type costs more than (1 + margin) x the "
        "cheapest per served request (0.1 = 10 %).",
    )
    cooldown_seconds: float = Field(
        default=6 * 3600.0, ge=0, description="At most one move proposed per deployment per window."
    )
    min_demand_rps: float = Field(
        default=0.01, ge=0, description="Below this demand (req/s) a deployment is left alone."
    )
    at_slo: bool = Field(
        default=True,
        description="Size for the queueing-delay SLO (demand / utilisation at SLO); False "
        "sizes for raw throughput.",
    )


@dataclass(frozen=True)
class _Current:
    gpu_type: str
    price_per_gpu_hour: float  # mean over the GPUs its replicas hold
    held_gpus: int

    @property
    def cost_per_hour(self) -> float:
        return self.held_gpus * self.price_per_gpu_hour


class GpuChoicePlanner(Remembers):
    """Proposes `MoveDeployment(to_gpu_type=...)` where another type is cheaper per request."""

    name = "gpu-choice"

    remembers = ("profiled", "capacity", "_last_move")

    def __init__(self, config: GpuChoiceConfig | None = None, priors: Priors | None = None):
        self.config = config or GpuChoiceConfig()
        self.profiled: dict[str, frozenset[str]] = {
            k: frozenset(v) for k, v in (priors or {}).items()
        }
        self.capacity = CapacityModel(priors, at_slo=self.config.at_slo)
        self._last_move: dict[str, datetime] = {}

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.capacity.observe(snapshot)
        out: list[Proposal] = []
        for d in snapshot.deployments:
            if d.retired or d.workload is WorkloadClass.TRAINING:
                continue
            if len(self.profiled.get(d.key, ())) < 2 or self._cooling(d.key, snapshot.at):
                continue
            proposal = self._plan_one(snapshot, d, forecasts.get(d.key))
            if proposal is not None:
                self._last_move[d.key] = snapshot.at
                out.append(proposal)
        return out

    def on_dropped(self, proposals: Sequence[Proposal]) -> None:
        """A move the composite dropped (another planner touched the deployment this tick)
        was never proposed: it starts no cooldown."""
        for p in proposals:
            if self._last_move.get(p.action.target) == p.action.issued_at:
                del self._last_move[p.action.target]

    def _cooling(self, key: str, at: datetime) -> bool:
        last = self._last_move.get(key)
        return last is not None and (at - last).total_seconds() < self.config.cooldown_seconds

    def demand(self, snapshot: ClusterSnapshot, d: ModelDeployment, f: Forecast | None) -> float:
        """Requests/s to serve: the arrival rate, or the forecasts' p90 when higher."""
        m = snapshot.metrics.get(d.key)
        rate = m.arrival_rate_rps if m is not None else 0.0
        if f is not None and f.points:
            rate = max(rate, max(p.p90 for p in f.points))
        return rate

    def _plan_one(
        self, snap: ClusterSnapshot, d: ModelDeployment, f: Forecast | None
    ) -> Proposal | None:
        current = _current(snap, d)
        demand = self.demand(snap, d, f)
        if current is None or demand < self.config.min_demand_rps:
            return None
        need = demand / self.capacity.utilisation(d, demand, snap.interval_seconds)
        options, rejected = self._options(snap, d, current)
        if current.gpu_type not in options:
            return None  # no profile for where it runs: nothing to compare against
        best = _choose(d, need, list(options.values()))
        each = {t: _choose(d, need, [o]) for t, o in options.items()}
        now = each[current.gpu_type]
        if best.gpu_type is None or best.gpu_type == current.gpu_type:
            return None
        if now.gpu_type is not None and now.cost_per_hour <= best.cost_per_hour * (
            1 + self.config.margin
        ):
            return None
        return self._proposal(snap, d, current, demand, need, best, each, options, rejected)

    def _options(
        self, snap: ClusterSnapshot, d: ModelDeployment, current: _Current
    ) -> tuple[dict[str, GpuOption], dict[str, str]]:
        """One option per profiled GPU type with a node `d` may use; why others are out."""
        options: dict[str, GpuOption] = {}
        rejected: dict[str, str] = {}
        for gpu_type in sorted(self.profiled[d.key]):
            nodes = [
                n
                for n in snap.nodes
                if n.gpu_type == gpu_type and can_host(d, n, any_gpu_type=True)
            ]
            if not nodes:
                rejected[gpu_type] = "no schedulable node of this type that the deployment may use"
                continue
            per = d.gpus_per_replica
            free = sum(n.free_gpus() // per * per for n in nodes)
            if gpu_type == current.gpu_type:
                free += current.held_gpus
                price = current.price_per_gpu_hour
            else:
                surge = d.replicas * per
                if free < surge:
                    rejected[gpu_type] = (
                        f"{free} free GPU(s); a move starts all {d.replicas} replica(s) "
                        f"({surge} GPUs) before the old ones stop"
                    )
                    continue
                price = max(n.price_per_gpu_hour for n in nodes if n.free_gpus() >= per)
            options[gpu_type] = GpuOption(
                gpu_type=gpu_type,
                throughput_rps=self.capacity.per_replica(d.key, gpu_type),
                price_per_gpu_hour=price,
                memory_gib=max(n.gpus[0].memory_gib for n in nodes),
                free_gpus=free,
            )
        return options, rejected

    def _proposal(
        self,
        snap: ClusterSnapshot,
        d: ModelDeployment,
        current: _Current,
        demand: float,
        need: float,
        best: GpuChoice,
        each: Mapping[str, GpuChoice],
        options: Mapping[str, GpuOption],
        rejected: Mapping[str, str],
    ) -> Proposal:
        assert best.gpu_type is not None
        now = each[current.gpu_type]
        target = options[best.gpu_type]
        per_1k = {t: _usd_per_1k(c, demand) for t, c in each.items() if c.gpu_type is not None}
        if now.gpu_type is None:
            why = f"{current.gpu_type} cannot serve it ({now.reason}; {now.rejected})"
        else:
            why = (
                f"on {current.gpu_type} it needs {now.replicas} replica(s) at "
                f"${now.cost_per_hour:.2f}/h (${per_1k[current.gpu_type]:.4f} per 1k requests)"
            )
        reason = (
            f"{d.key} serves {demand:.3g} req/s ({need:.3g} req/s of raw capacity at its SLO): "
            f"{why}; on {best.gpu_type} {best.replicas} replica(s) at "
            f"${best.cost_per_hour:.2f}/h (${per_1k[best.gpu_type]:.4f} per 1k requests). "
            f"Move to {best.gpu_type}; {target.free_gpus} of its GPUs are free"
        )
        all_rejected = {**rejected, **best.rejected}
        evidence = [
            Evidence(name="current_gpu_type", value=current.gpu_type),
            Evidence(name="target_gpu_type", value=best.gpu_type),
            Evidence(name="demand_rps", value=round(demand, 4), unit="req/s"),
            Evidence(name="demand_at_slo_rps", value=round(need, 4), unit="req/s"),
            Evidence(name="cost_per_hour_now", value=round(current.cost_per_hour, 4), unit="USD/h"),
            Evidence(
                name="cost_per_hour_current_type",
                value=round(now.cost_per_hour, 4) if now.gpu_type else -1.0,
                unit="USD/h",
            ),
            Evidence(name="cost_per_hour_after", value=best.cost_per_hour, unit="USD/h"),
            Evidence(name="replicas_after", value=best.replicas),
            Evidence(name="free_gpus_target", value=target.free_gpus, unit="GPUs"),
            *(
                Evidence(name=f"usd_per_1k_requests[{t}]", value=round(v, 6), unit="USD")
                for t, v in sorted(per_1k.items())
            ),
            *(
                Evidence(name=f"rejected[{t}]", value=why)
                for t, why in sorted(all_rejected.items())
            ),
        ]
        return Proposal(
            action=MoveDeployment(deployment=d.key, to_gpu_type=best.gpu_type, issued_at=snap.at),
            reason=reason,
            evidence=tuple(evidence),
            planner=self.name,
        )


def _choose(d: ModelDeployment, need_rps: float, options: list[GpuOption]) -> GpuChoice:
    return cheapest_gpu_type(
        need_rps,
        options,
        gpus_per_replica=d.gpus_per_replica,
        memory_gib_per_replica=d.gpu_memory_gib_per_replica,
        max_replicas=d.max_replicas,
    )


def _usd_per_1k(choice: GpuChoice, demand_rps: float) -> float:
    return choice.cost_per_hour / (demand_rps * 3600.0) * 1000.0


def _current(snap: ClusterSnapshot, d: ModelDeployment) -> _Current | None:
    """Where `d` runs when it is settled: every replica Ready on one GPU type (None when
    it is scaling, moving, empty or spread over several types)."""
    ready = [r for r in d.replica_states if r.phase is ReplicaPhase.READY and r.node]
    if d.replicas == 0 or len(ready) != d.replicas or len(d.replica_states) != d.replicas:
        return None
    nodes = {n.name: n for n in snap.nodes}
    types: Counter[str] = Counter()
    gpus, cost = 0, 0.0
    for r in ready:
        node = nodes.get(r.node or "")
        if node is None:
            return None
        types[node.gpu_type] += 1
        gpus += len(r.gpu_indices)
        cost += len(r.gpu_indices) * node.price_per_gpu_hour
    if len(types) != 1 or gpus == 0:
        return None
    ((gpu_type, _),) = types.items()
    return _Current(gpu_type=gpu_type, price_per_gpu_hour=cost / gpus, held_gpus=gpus)
