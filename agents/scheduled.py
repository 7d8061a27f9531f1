"""Capacity windows hold under any planner: what an approved `schedule` action reserved.

An approved `ScheduleCapacity` leaves a `CapacityWindow` on its deployment (the simulator
keeps it in its state, Kubernetes in the `gpusteward.io/capacity-windows` annotation).
`ScheduledCapacity` wraps the scenario's planner. From one cold start (plus a margin for
placement) before a window's start until its end, the deployment is kept at the window's
replicas or more; a window announced as a multiple of the normal load is re-sized from
the live load measured in that lead time, before the event's own load arrives. The
wrapped planner's scale-ups above that stand; its scale-downs, retirements or
consolidations below it are dropped; a scale-up to the window is added when nothing else
reaches it. That scale-up is an ordinary proposal: the guard judges it. Outside windows
the wrapped planner's plan passes through unchanged. Pure, apart from the measured load
the planner keeps per window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC

from agents.scaling import ev
from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import CapacityWindow, ClusterSnapshot, ModelDeployment, ReplicaPhase
from gpusteward.core.load import Forecast
from gpusteward.core.ports import Planner
from tools.actions import SIZING_UTILISATION

LEAD_TICKS = 3  # ticks of margin on top of the cold start: placement, the tick's own delay
MIN_MARGIN_SECONDS = 300.0


def lead_seconds(d: ModelDeployment, interval_seconds: float) -> float:
    """How long before a window's start its replicas are asked for."""
    return d.cold_start_seconds + max(LEAD_TICKS * interval_seconds, MIN_MARGIN_SECONDS)


def _target(action: Action, key: str, replicas: int) -> int | None:
    if isinstance(action, ScaleDeployment) and action.deployment == key:
        return action.replicas
    if isinstance(action, PrewarmReplicas) and action.deployment == key:
        return replicas + action.count
    if isinstance(action, RetireModel) and action.deployment == key:
        return 0
    if isinstance(action, ConsolidateModels) and key in action.sources:
        return 0
    return None


def window_need(w: CapacityWindow, base: Base | None, d: ModelDeployment) -> int:
    """The replicas window `w` holds: its approved count, or more when it was announced as a
    multiple of the normal load and that load was measured before its start."""
    need = w.replicas
    if w.load_multiplier is not None and base is not None and base.per_replica_rps > 0:
        sized = w.load_multiplier * base.rps / (base.per_replica_rps * SIZING_UTILISATION)
        need = max(need, math.ceil(sized))
    return min(need, d.max_replicas)


@dataclass
class Base:
    """The normal load before a window's start: the highest live arrival rate seen in its
    lead time, and what one Ready replica served then."""

    rps: float = 0.0
    per_replica_rps: float = 0.0


def measure(snapshot: ClusterSnapshot, bases: dict[str, Base], interval_seconds: float) -> None:
    """Record the normal load of every window now in its lead time (before its start)."""
    for d in snapshot.deployments:
        m = snapshot.metrics.get(d.key)
        ready = d.count(ReplicaPhase.READY)
        if m is None or ready == 0 or m.capacity_rps <= 0:
            continue
        for w in d.capacity_windows:
            if w.load_multiplier is None or not w.active(
                snapshot.at, lead_seconds(d, interval_seconds)
            ):
                continue
            if snapshot.at >= w.start:
                continue  # the event's own load is not the normal load
            base = bases.setdefault(w.action_id, Base())
            base.rps = max(base.rps, m.arrival_rate_rps)
            base.per_replica_rps = m.capacity_rps / ready


def hold_windows(
    snapshot: ClusterSnapshot,
    proposals: list[Proposal],
    planner: str,
    interval_seconds: float,
    bases: Mapping[str, Base] | None = None,
) -> list[Proposal]:
    """`proposals` with every active window held (see the module docstring)."""
    out = list(proposals)
    for d in snapshot.deployments:
        lead = lead_seconds(d, interval_seconds)
        active = [w for w in d.capacity_windows if w.active(snapshot.at, lead)]
        if d.retired or not active:
            continue
        needs = [(window_need(w, (bases or {}).get(w.action_id), d), w) for w in active]
        need, window = max(needs, key=lambda x: x[0])
        mine = [(t, p) for p in out if (t := _target(p.action, d.key, d.replicas)) is not None]
        out = [p for p in out if all(p is not q or t >= need for t, q in mine)]
        if any(t >= need for t, _ in mine) or d.replicas >= need:
            continue
        out.append(
            Proposal(
                action=ScaleDeployment(
                    deployment=d.key,
                    replicas=need,
                    from_replicas=d.replicas,
                    issued_at=snapshot.at,
                ),
                reason=(
                    f"scheduled capacity (approved {window.action_id or 'schedule'}): "
                    f"{need} replica(s) Ready by "
                    f"{window.start.astimezone(UTC):%Y-%m-%d %H:%M} UTC: scale up "
                    f"{d.replicas} -> {need}"
                ),
                evidence=(
                    ev("reserved_replicas", need),
                    ev("approved_replicas", window.replicas),
                    ev("load_multiplier", window.load_multiplier or 1.0),
                    ev("window_start", window.start.isoformat()),
                    ev("window_end", window.end.isoformat()),
                    ev("cold_start", d.cold_start_seconds, "s"),
                ),
                planner=planner,
            )
        )
    return out


class ScheduledCapacity:
    """A `Planner` that runs `inner` and holds the approved capacity windows."""

    def __init__(self, inner: Planner, interval_seconds: float = 60.0) -> None:
        self.inner = inner
        self.name = inner.name  # the journal names the planner the scenario chose
        self.interval_seconds = interval_seconds
        self.bases: dict[str, Base] = {}  # by window (action id): the load before its start

    @property
    def blocking_io(self) -> bool:
        return bool(getattr(self.inner, "blocking_io", False))

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        proposals = self.inner.plan(snapshot, forecasts)
        live = {w.action_id for d in snapshot.deployments for w in d.capacity_windows}
        self.bases = {k: v for k, v in self.bases.items() if k in live}
        measure(snapshot, self.bases, self.interval_seconds)
        return hold_windows(snapshot, proposals, self.name, self.interval_seconds, self.bases)
