"""Guard v0: replica bounds and a cluster GPU budget, failing closed.

The full policy engine (rules from YAML, CEL, approvals by rule) replaces this behind
the same `PolicyEngine` port. Proposals are judged in order; GPUs granted to earlier
proposals in the batch count against the budget of later ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gpusteward.core.actions import (
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Allow, Deny, NeedsApproval, RuleHit, Verdict


class BoundsConfig(Frozen):
    gpu_budget: int | None = Field(default=None, ge=0, description="Max GPUs held by replicas.")
    retire_approver_group: str = "oncall"


class BoundsPolicy:
    version = "bounds-v0"

    def __init__(self, config: BoundsConfig | None = None) -> None:
        self.config = config or BoundsConfig()

    def evaluate(self, proposals: Sequence[Proposal], snapshot: ClusterSnapshot) -> list[Verdict]:
        held = snapshot.allocated_gpus()
        replicas = {d.key: d.replicas for d in snapshot.deployments}
        verdicts: list[Verdict] = []
        for proposal in proposals:
            try:
                verdict, delta_gpus = self._judge(proposal, snapshot, held, replicas)
            except Exception as e:  # fail closed: a rule that errors denies
                verdict, delta_gpus = self._deny(proposal, "evaluation-error", f"{e!r}"), 0
            if verdict.decision == "allow":
                held += delta_gpus
                action = proposal.action
                if isinstance(action, ScaleDeployment):
                    replicas[action.deployment] = action.replicas
                elif isinstance(action, PrewarmReplicas):
                    replicas[action.deployment] += action.count
            verdicts.append(verdict)
        return verdicts

    def _judge(
        self, proposal: Proposal, snap: ClusterSnapshot, held: int, replicas: dict[str, int]
    ) -> tuple[Verdict, int]:
        action = proposal.action
        if isinstance(action, ScaleDeployment | PrewarmReplicas):
            d = snap.deployment(action.deployment)
            if d is None:
                return self._deny(
                    proposal, "unknown-target", f"no deployment {action.deployment}"
                ), 0
            current = replicas.get(d.key, d.replicas)
            new = action.replicas if isinstance(action, ScaleDeployment) else current + action.count
            if not d.min_replicas <= new <= d.max_replicas:
                return self._deny(
                    proposal,
                    "replica-bounds",
                    f"{d.key} would have {new} replicas, outside "
                    f"[{d.min_replicas}, {d.max_replicas}]",
                    replicas=new,
                    min=d.min_replicas,
                    max=d.max_replicas,
                ), 0
            delta = (new - current) * d.gpus_per_replica
            budget = self.config.gpu_budget
            if budget is not None and delta > 0 and held + delta > budget:
                return self._deny(
                    proposal,
                    "gpu-budget",
                    f"{held} GPUs held + {delta} would exceed the budget of {budget}",
                    held=held,
                    delta=delta,
                    budget=budget,
                ), 0
            rule = RuleHit(
                rule="replica-bounds",
                reason=f"{new} replicas within [{d.min_replicas}, {d.max_replicas}]"
                + (f", {held + delta}/{budget} GPUs" if budget is not None else ""),
                values={"replicas": new, "gpus_after": held + delta},
            )
            return Allow(action_id=action.id, policy_version=self.version, rules=(rule,)), delta
        if isinstance(action, RetireModel):
            rule = RuleHit(rule="retire-needs-approval", reason="retiring a model needs a human")
            verdict = NeedsApproval(
                action_id=action.id,
                policy_version=self.version,
                rules=(rule,),
                approver_group=self.config.retire_approver_group,
            )
            return verdict, 0
        if isinstance(action, MoveDeployment | ConsolidateModels | CordonNode):
            missing = [t for t in _targets(action) if t not in _known(snap)]
            if missing:
                return self._deny(proposal, "unknown-target", f"unknown {', '.join(missing)}"), 0
            rule = RuleHit(rule="no-capacity-change", reason="does not change GPUs held")
            return Allow(action_id=action.id, policy_version=self.version, rules=(rule,)), 0
        return self._deny(proposal, "unknown-action", f"no rule knows {type(action).__name__}"), 0

    def _deny(
        self, proposal: Proposal, rule: str, reason: str, **values: int | float | str
    ) -> Deny:
        hit = RuleHit(rule=rule, reason=reason, values=dict(values))
        return Deny(action_id=proposal.action.id, policy_version=self.version, rules=(hit,))


def _targets(action: MoveDeployment | ConsolidateModels | CordonNode) -> list[str]:
    if isinstance(action, ConsolidateModels):
        return [*action.sources, action.into]
    return [action.target]


def _known(snap: ClusterSnapshot) -> set[str]:
    return {d.key for d in snap.deployments} | {n.name for n in snap.nodes}
