"""Re-run: re-propose a recorded plan against the cluster as it is now.

Each recorded action is re-issued on the current snapshot (new issue time, new id, the
replica count it is planned from as it is now), judged by the current policy, and sent
for a fresh human approval — even where the policy would allow it, because the plan was
made for another moment. Denied ones and ones whose target is gone are reported, not
submitted. Approved ones run on a later tick of the daemon, re-validated as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from gpusteward.core import stages
from gpusteward.core.actions import ACTION_ADAPTER, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.model import Frozen
from gpusteward.core.ports import ApprovalGate, GuardInputs, PolicyEngine
from gpusteward.core.verdicts import Deny, NeedsApproval, RuleHit

RERUN_RULE = RuleHit(
    rule="rerun",
    reason="a re-run of a recorded plan is always approved by a human",
    effect="needs_approval",
)


class RerunOutcome(Frozen):
    recorded_id: str
    action: str
    status: Literal["submitted", "denied", "gone"]
    reason: str
    new_id: str | None = None
    request_id: str | None = None

    @classmethod
    def reissued(
        cls,
        old: Proposal,
        new: Proposal,
        status: Literal["submitted", "denied"],
        reason: str,
        request_id: str | None = None,
    ) -> RerunOutcome:
        """What became of recorded `old`, re-issued now as `new`."""
        return cls(
            recorded_id=old.action.id,
            action=new.action.describe(),
            status=status,
            reason=reason,
            new_id=new.action.id,
            request_id=request_id,
        )


def reissue(proposal: Proposal, snapshot: ClusterSnapshot) -> Proposal | None:
    """The same change, planned now; None when its target is gone or retired."""
    action = proposal.action
    if action.kind == "cordon":
        if snapshot.node(action.target) is None:
            return None
    else:
        d = snapshot.deployment(action.target)
        if d is None or d.retired:
            return None
    body = action.model_dump(mode="json", exclude={"id"})
    body["issued_at"] = snapshot.at.isoformat()
    if isinstance(action, ScaleDeployment):
        d = snapshot.deployment(action.deployment)
        body["from_replicas"] = d.replicas if d else None
    return Proposal(
        action=ACTION_ADAPTER.validate_python(body),
        reason=f"re-run of {action.id}: {proposal.reason}",
        evidence=proposal.evidence,
        planner=f"rerun:{proposal.planner}",
    )


def rerun(
    proposals: Sequence[Proposal],
    snapshot: ClusterSnapshot,
    inputs: GuardInputs,
    policy: PolicyEngine,
    gate: ApprovalGate,
    *,
    approver_group: str = "oncall",
    now: datetime | None = None,
) -> list[RerunOutcome]:
    out: list[RerunOutcome] = []
    fresh: list[tuple[Proposal, Proposal]] = []
    for p in proposals:
        new = reissue(p, snapshot)
        if new is None:
            out.append(
                RerunOutcome(
                    recorded_id=p.action.id,
                    action=p.action.describe(),
                    status="gone",
                    reason=f"{p.action.target} is no longer in the cluster (or is retired)",
                )
            )
        else:
            fresh.append((p, new))
    verdicts = stages.judge(policy, [n for _, n in fresh], snapshot, inputs).verdicts
    for (old, new), verdict in zip(fresh, verdicts, strict=True):
        if isinstance(verdict, Deny):
            out.append(RerunOutcome.reissued(old, new, "denied", verdict.reason))
            continue
        ask = (
            verdict
            if isinstance(verdict, NeedsApproval)
            else NeedsApproval(
                action_id=new.action.id,
                policy_version=verdict.policy_version,
                rules=(*verdict.rules, RERUN_RULE),
                approver_group=approver_group,
            )
        )
        request = gate.submit(new, ask, now or snapshot.at)
        out.append(RerunOutcome.reissued(old, new, "submitted", ask.reason, request.id))
    return out
