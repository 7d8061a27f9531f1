"""The SLO floor under the model's plan: what the live load and queue need stays, whatever
the model says.

The floor is the deterministic planner's scale-ups (it computes them from the live load,
the queue and the forecast), and for every deployment the replicas its live demand needs
now (arrivals plus draining the queue within one interval, at the replicas' measured
capacity). A model plan that takes a deployment below its floor — a smaller scale-up, a
scale-down, a retire or a consolidation of a busy model — loses those proposals, and for
that deployment the deterministic plan stands in their place (its scale-up, or its own
scale-down: an unsafe opinion is no opinion). A model plan that covers the same demand
(the same or more replicas) is kept as it is. A deployment the model left alone or held
(`propose_hold`) counts as planned at its current replicas: the deterministic scale-down
of it does not stand, a scale-up its load needs does.
Pure: snapshot and proposals in, proposals out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from agents.scaling import live_demand
from gpusteward.core.actions import (
    Action,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    RoutingAction,
    ScaleDeployment,
)
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase


@dataclass(frozen=True)
class FloorOutcome:
    proposals: list[Proposal]  # the model's kept proposals, then the floor's
    notes: tuple[str, ...]  # one line per proposal dropped or added, for the journal


def live_need(snapshot: ClusterSnapshot, d: ModelDeployment, interval_seconds: float) -> int:
    """Replicas the live demand needs at the ready replicas' measured capacity (0: unknown)."""
    m = snapshot.metrics.get(d.key)
    ready = d.count(ReplicaPhase.READY)
    if m is None or ready == 0 or m.capacity_rps <= 0:
        return 0
    per_replica = m.capacity_rps / ready
    return min(d.max_replicas, math.ceil(live_demand(m, interval_seconds) / per_replica))


def _target(action: Action, d: ModelDeployment) -> int | None:
    """The replica count `action` leaves `d` at (None: it does not change the count)."""
    if isinstance(action, ScaleDeployment) and action.deployment == d.key:
        return action.replicas
    if isinstance(action, PrewarmReplicas) and action.deployment == d.key:
        return d.replicas + action.count
    if isinstance(action, RetireModel) and action.deployment == d.key:
        return 0
    if isinstance(action, RoutingAction) and d.key in action.sources:
        return 0
    return None


def apply_floor(
    snapshot: ClusterSnapshot,
    model: Sequence[Proposal],
    recommended: Sequence[Proposal],
    interval_seconds: float = 60.0,
) -> FloorOutcome:
    """The model's plan with the SLO floor kept (see the module docstring)."""
    kept = list(model)
    added: list[Proposal] = []
    notes: list[str] = []
    for d in snapshot.deployments:
        if d.retired:
            continue
        ours = [(t, p) for p in recommended if (t := _target(p.action, d)) is not None]
        ups = [t for t, _ in ours if t > d.replicas]
        floor = max([*ups, min(live_need(snapshot, d, interval_seconds), d.replicas)])
        mine = [(t, p) for p in kept if (t := _target(p.action, d)) is not None]
        planned = max((t for t, _ in mine), default=d.replicas)
        if planned >= floor and all(t >= floor for t, _ in mine):
            continue
        for t, p in mine:
            if t < floor:
                kept.remove(p)
                notes.append(
                    f"dropped the model's '{p.action.describe()}': {d.key} needs at least "
                    f"{floor} replica(s) for its live load, queue and the recommended scale-up"
                )
        if any(t >= floor for t, _ in mine):
            continue  # the model's own plan for d covers the demand
        for _, p in ours:  # for d, the deterministic plan stands
            added.append(p.model_copy(update={"reason": f"SLO floor (kept): {p.reason}"}))
            notes.append(f"kept the deterministic plan for {d.key}: {p.action.describe()}")
    return FloorOutcome(proposals=kept + added, notes=tuple(notes))
