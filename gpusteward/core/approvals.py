"""A durable request for a human decision on one exact action."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime

from gpusteward.core.actions import CordonNode, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import NeedsApproval, RuleHit, Severity


class Projection(Frozen):
    """What running an action was projected to do, on the snapshot taken `at`: GPUs and
    cost per hour from the deployment's GPUs per replica and the mean price of the nodes
    it may use; the SLO effect as utilisation of ready capacity before and after. The
    deltas are None when the snapshot cannot tell (`slo` then says why)."""

    at: AwareDatetime | None = None
    gpus_delta: int | None = None
    cost_per_hour_delta: float | None = None  # USD
    gpu_hours_per_day_delta: float | None = None
    slo: str = "n/a"

    def summary(self) -> str:
        if self.gpus_delta is None:
            return f"GPUs: unchanged or unknown; SLO: {self.slo}"
        cost = self.cost_per_hour_delta or 0.0
        return (
            f"{self.gpus_delta:+d} GPUs ({self.gpu_hours_per_day_delta or 0:+.0f} GPU-h/day, "
            f"{cost:+.2f} $/h); SLO: {self.slo}"
        )


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class ApprovalRequest(Frozen):
    id: str
    proposal: Proposal
    action_hash: str
    policy_version: str
    approver_group: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    comment: str | None = None
    # Added with the approval chat; defaults keep older journal records readable.
    decided_at: AwareDatetime | None = None
    channel: str | None = None  # where the decision came from: web, slack, cli, system
    intent_hash: str = ""  # the action without its id and issue time: "the same proposal"
    rules: tuple[RuleHit, ...] = ()  # the rules that asked for approval, with their reasons
    severity: Severity = Severity.MEDIUM
    outcome: str | None = None  # what running it did: applied, superseded, failed, ...
    # Added with kept projections; None in requests stored before (and until it is made).
    projection: Projection | None = None  # on the snapshot the request was asked on

    @classmethod
    def asked(cls, proposal: Proposal, verdict: NeedsApproval, now: datetime) -> ApprovalRequest:
        """The pending request a `NeedsApproval` verdict opens at `now`: the one way every
        gate (memory, the chat's store, a replay's) builds it, so none omits the rules,
        the severity or the intent."""
        return cls(
            id=proposal.action.id,
            proposal=proposal,
            action_hash=action_hash(proposal),
            policy_version=verdict.policy_version,
            approver_group=verdict.approver_group,
            created_at=now,
            expires_at=now + timedelta(seconds=verdict.expires_in_seconds),
            intent_hash=intent_hash(proposal),
            rules=verdict.rules,
            severity=verdict.severity,
        )


def action_hash(proposal: Proposal) -> str:
    """Hash of the exact action content: an approval binds to this, not to a description."""
    body = proposal.action.model_dump_json(exclude={"id"})
    return hashlib.sha256(body.encode()).hexdigest()


def intent_hash(proposal: Proposal) -> str:
    """Hash of what the action would do, whenever it was issued: two ticks proposing the same
    change give the same intent (used to de-duplicate and for the cool-off after a rejection)."""
    body = proposal.action.model_dump(mode="json", exclude={"id", "issued_at"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def stale_reason(
    request: ApprovalRequest, snapshot: ClusterSnapshot, policy_version: str
) -> str | None:
    """Why an approved request no longer fits the world it was approved for, or None.

    Checked before an approved action runs: the action must still hash to what was
    approved, the policy must be the version that asked, and the state the action was
    planned from must still hold. Otherwise the request is superseded, not executed.
    """
    action = request.proposal.action
    if action_hash(request.proposal) != request.action_hash:
        return "the action no longer matches the hash that was approved"
    if request.policy_version != policy_version:
        return f"the policy changed since approval ({request.policy_version} -> {policy_version})"
    if isinstance(action, CordonNode):
        node = snapshot.node(action.node)
        if node is None:
            return f"node {action.node} is gone"
        return None if node.cordoned != action.cordon else f"node {action.node} already done"
    deployment = snapshot.deployment(action.target)
    if deployment is None:
        return f"{action.target} is no longer in the cluster"
    if deployment.retired:
        return f"{action.target} has been retired"
    planned_from = action.from_replicas if isinstance(action, ScaleDeployment) else None
    if planned_from is not None and deployment.replicas != planned_from:
        return (
            f"{action.target} now wants {deployment.replicas} replicas; the approved "
            f"change was planned from {planned_from}"
        )
    return None
