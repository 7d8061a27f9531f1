"""Capacity windows hold under any planner: what an approved `schedule` action reserved.

An approved `ScheduleCapacity` leaves a `CapacityWindow` on its deployment (the simulator
keeps it in its state, Kubernetes in the `gpusteward.io/capacity-windows` annotation).
The tick's plan stage (`core.stages.plan`) passes every plan through `hold_windows`, so
it holds whichever planner runs — deterministic or LLM, live or in replay. From one cold
start (plus a margin for placement: three ticks, at least five minutes) before a window's
start until its end, the deployment is kept at the window's replicas or more; a window
announced as a multiple of the normal load is re-sized from the load the daemon recorded
in that lead time, before the event's own load arrives, never below what was approved.
The planner's scale-ups above that stand; its scale-downs, retirements or consolidations
below it are dropped; a scale-up to the window is added when nothing else reaches it.
That scale-up is an ordinary proposal: the guard judges it. Outside windows a plan passes
through unchanged. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from gpusteward.core.actions import (
    Action,
    Evidence,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    RoutingAction,
    ScaleDeployment,
)
from gpusteward.core.cluster import CapacityWindow, ClusterSnapshot, ModelDeployment, ReplicaPhase
from gpusteward.core.load import LoadSeries

SIZING_UTILISATION = 0.7  # replicas sized for an announced load run at most this busy
LEAD_TICKS = 3  # ticks of margin on top of the cold start: placement, the tick's own delay
MIN_MARGIN_SECONDS = 300.0
PLANNER = "scheduled-capacity"


def lead_seconds(d: ModelDeployment, interval_seconds: float) -> float:
    """How long before a window's start its replicas are asked for."""
    return d.cold_start_seconds + max(LEAD_TICKS * interval_seconds, MIN_MARGIN_SECONDS)


def normal_before(
    series: LoadSeries | None, start: datetime, lead: float, now: datetime
) -> float | None:
    """The highest recorded rate in the lead time before `start` (up to `now`): the load
    the announcement's multiple is of. None when none of it is recorded."""
    if series is None:
        return None
    lo, hi = start - timedelta(seconds=lead), min(start, now + timedelta(microseconds=1))
    step = timedelta(seconds=series.step_seconds)
    seen = [
        v
        for i, v in enumerate(series.values)
        if v is not None and lo <= series.start + step * i < hi
    ]
    return max(seen) if seen else None


def window_need(
    w: CapacityWindow,
    d: ModelDeployment,
    snapshot: ClusterSnapshot,
    series: LoadSeries | None,
    lead: float,
) -> int:
    """The replicas window `w` holds now: what was approved, or more when it was announced
    as a multiple of the normal load and that load was recorded before its start."""
    need = w.replicas
    m = snapshot.metrics.get(d.key)
    ready = d.count(ReplicaPhase.READY)
    if w.load_multiplier is not None and m is not None and ready and m.capacity_rps > 0:
        normal = normal_before(series, w.start, lead, snapshot.at)
        if normal is not None:
            per_replica = m.capacity_rps / ready * SIZING_UTILISATION
            need = max(need, math.ceil(w.load_multiplier * normal / per_replica))
    return min(need, d.max_replicas)


def _target(action: Action, key: str, replicas: int) -> int | None:
    if isinstance(action, ScaleDeployment) and action.deployment == key:
        return action.replicas
    if isinstance(action, PrewarmReplicas) and action.deployment == key:
        return replicas + action.count
    if isinstance(action, RetireModel) and action.deployment == key:
        return 0
    if isinstance(action, RoutingAction) and key in action.sources:
        return 0
    return None


def hold_windows(
    snapshot: ClusterSnapshot,
    proposals: Sequence[Proposal],
    load: Mapping[str, LoadSeries] | None = None,
    interval_seconds: float | None = None,
) -> list[Proposal]:
    """`proposals` with every active window held (see the module docstring). The tick's
    interval defaults to the load history's step (the daemon records one value a tick)."""
    out = list(proposals)
    load = load or {}
    for d in snapshot.deployments:
        if d.retired or not d.capacity_windows:
            continue
        series = load.get(d.key)
        interval = interval_seconds or (series.step_seconds if series is not None else 60.0)
        lead = lead_seconds(d, interval)
        active = [w for w in d.capacity_windows if w.active(snapshot.at, lead)]
        if not active:
            continue
        need, window = max(
            ((window_need(w, d, snapshot, series, lead), w) for w in active),
            key=lambda x: x[0],
        )
        mine = [(t, p) for p in out if (t := _target(p.action, d.key, d.replicas)) is not None]
        out = [p for p in out if all(p is not q or t >= need for t, q in mine)]
        if any(t >= need for t, _ in mine) or d.replicas >= need:
            continue
        out.append(_scale_up(snapshot.at, d, need, window))
    return out


def _scale_up(at: datetime, d: ModelDeployment, need: int, window: CapacityWindow) -> Proposal:
    start = window.start.astimezone(UTC)
    return Proposal(
        action=ScaleDeployment(
            deployment=d.key, replicas=need, from_replicas=d.replicas, issued_at=at
        ),
        reason=(
            f"scheduled capacity (approved {window.action_id or 'schedule'}): {need} "
            f"replica(s) Ready by {start:%Y-%m-%d %H:%M} UTC: scale up {d.replicas} -> {need}"
        ),
        evidence=(
            Evidence(name="reserved_replicas", value=need),
            Evidence(name="approved_replicas", value=window.replicas),
            Evidence(name="load_multiplier", value=window.load_multiplier or 1.0),
            Evidence(name="window_start", value=window.start.isoformat()),
            Evidence(name="window_end", value=window.end.isoformat()),
            Evidence(name="cold_start", value=d.cold_start_seconds, unit="s"),
        ),
        planner=PLANNER,
    )
