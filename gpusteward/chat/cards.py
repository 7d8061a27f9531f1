"""What an action card shows, computed from a request and the latest snapshot. Pure.

A card shows two projections (`Projection`: GPUs, cost, utilisation before and after):
the one made on the snapshot the request was asked on, kept with the request, and,
while the request is still open, the one on the latest snapshot. Once the action has
run (or the request is closed) the latest snapshot already holds its effect, so
projecting it again there would tell nothing true.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime

from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.approvals import ApprovalRequest, ApprovalState, Projection
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ReplicaPhase
from gpusteward.core.model import Frozen


class RuleLine(Frozen):
    rule: str
    reason: str


class Card(Frozen):
    id: str
    title: str
    kind: str
    target: str
    state: str
    reason: str
    evidence: tuple[str, ...]
    rules: tuple[RuleLine, ...]
    approver_group: str
    severity: str
    policy_version: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    decided_by: str | None
    decided_at: AwareDatetime | None
    channel: str | None
    comment: str | None
    outcome: str | None
    impact: Projection  # made when the request was asked
    impact_now: Projection | None  # on the latest snapshot, while the request is open
    status_line: str


def make_card(request: ApprovalRequest, snapshot: ClusterSnapshot | None) -> Card:
    action = request.proposal.action
    return Card(
        id=request.id,
        title=action.describe(),
        kind=action.kind,
        target=action.target,
        state=request.state.value,
        reason=request.proposal.reason,
        evidence=tuple(
            f"{e.name} = {_num(e.value)}{' ' + e.unit if e.unit else ''}"
            for e in request.proposal.evidence
        ),
        rules=tuple(RuleLine(rule=h.rule, reason=h.reason) for h in request.rules),
        approver_group=request.approver_group,
        severity=request.severity.value,
        policy_version=request.policy_version,
        created_at=request.created_at,
        expires_at=request.expires_at,
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        channel=request.channel,
        comment=request.comment,
        outcome=request.outcome,
        impact=request.projection or NOT_RECORDED,
        impact_now=impact(action, snapshot) if is_open(request) else None,
        status_line=status_line(request),
    )


NOT_RECORDED = Projection(
    slo="not recorded: the request was not drawn on the snapshot it was asked on "
    "(or was stored by an older gpusteward)"
)


def is_open(r: ApprovalRequest) -> bool:
    """Pending, or approved and not yet run: its action has not changed the cluster."""
    return r.state == ApprovalState.PENDING or (
        r.state == ApprovalState.APPROVED and r.outcome is None
    )


def status_line(r: ApprovalRequest) -> str:
    """One line: where the request stands, who decided and what came of it."""
    if r.state.value == "pending":
        return f"waiting for {r.approver_group} until {r.expires_at:%Y-%m-%d %H:%M} UTC"
    by = f" by {r.decided_by}" if r.decided_by else ""
    via = f" via {r.channel}" if r.channel and r.channel != "system" else ""
    when = f" at {r.decided_at:%Y-%m-%d %H:%M:%S} UTC" if r.decided_at else ""
    line = f"{r.state.value}{by}{via}{when}"
    if r.outcome:
        line += f" — {'executed' if r.outcome == 'applied' else r.outcome}"
    if r.comment:
        line += f": {r.comment}"
    return line


def impact(action: Action, snapshot: ClusterSnapshot | None) -> Projection:
    """What running `action` on `snapshot` would do (an estimate; see `Projection`)."""
    if snapshot is None:
        return Projection(slo="no snapshot yet")
    d = snapshot.deployment(action.target)
    if d is None:
        return Projection(at=snapshot.at, slo=f"{action.target} is not in the snapshot")
    after = _replicas_after(action, d)
    if after is None:
        return Projection(at=snapshot.at, slo="placement change; capacity unchanged")
    gpus = (after - d.replicas) * d.gpus_per_replica
    price = _mean_price(snapshot, d)
    return Projection(
        at=snapshot.at,
        gpus_delta=gpus,
        cost_per_hour_delta=round(gpus * price, 2),
        gpu_hours_per_day_delta=gpus * 24.0,
        slo=_slo_effect(snapshot, d, after),
    )


def _replicas_after(action: Action, d: ModelDeployment) -> int | None:
    if isinstance(action, ScaleDeployment):
        return action.replicas
    if isinstance(action, PrewarmReplicas):
        return d.replicas + action.count
    if isinstance(action, RetireModel):
        return 0
    if isinstance(action, ConsolidateModels):
        return None
    return None


def _mean_price(snapshot: ClusterSnapshot, d: ModelDeployment) -> float:
    nodes = [
        n
        for n in snapshot.nodes
        if (not d.pools or n.pool in d.pools)
        and (not d.gpu_types or any(g.type in d.gpu_types for g in n.gpus))
    ] or list(snapshot.nodes)
    return sum(n.price_per_gpu_hour for n in nodes) / len(nodes) if nodes else 0.0


def _slo_effect(snapshot: ClusterSnapshot, d: ModelDeployment, after: int) -> str:
    m = snapshot.metrics.get(d.key)
    ready = d.count(ReplicaPhase.READY)
    if m is None or ready == 0 or m.capacity_rps <= 0:
        return f"{d.replicas} -> {after} replicas; no measured capacity to project from"
    per_replica = m.capacity_rps / ready
    before_u = m.arrival_rate_rps / (per_replica * d.replicas) if d.replicas else float("inf")
    after_u = m.arrival_rate_rps / (per_replica * after) if after else float("inf")
    risk = " (over capacity: queueing and SLO misses likely)" if after_u > 1 else ""
    return (
        f"load {m.arrival_rate_rps:.2f} req/s; utilisation {_pct(before_u)} -> "
        f"{_pct(after_u)} of capacity{risk}"
    )


def _pct(u: float) -> str:
    return "all load dropped" if u == float("inf") else f"{u:.0%}"


def _num(value: float | int | str | bool) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def short_time(dt: datetime) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC"
