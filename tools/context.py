"""What a tool call may see: one tick's snapshot and guard inputs, the policy engine, the
deterministic planner's recommendation and the what-if port — never an executor or an
approval gate, so no tool can change the cluster or approve anything.

The proposals made so far this tick accumulate here, in order, so each new proposal is
judged exactly as the guard will judge it (earlier allowed ones count against budgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from gpusteward.core.actions import Action, Proposal
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.ports import GuardInputs, PolicyEngine
from gpusteward.core.stages import judge
from gpusteward.core.verdicts import Verdict


class WhatIfProjection(BaseModel):
    """The simulator's projection of the next `horizon_seconds`, without and with actions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_seconds: float
    baseline_gpu_hours: float
    projected_gpu_hours: float
    baseline_cost_usd: float
    projected_cost_usd: float
    baseline_slo_attainment: float = Field(description="Share of requests within their SLO.")
    projected_slo_attainment: float
    baseline_dropped: int
    projected_dropped: int
    action_results: tuple[str, ...] = ()


class WhatIf(Protocol):
    """Runs actions on a copy of the cluster model; the real cluster is never touched."""

    def project(self, actions: Sequence[Action], horizon_seconds: float) -> WhatIfProjection: ...


@dataclass
class ToolContext:
    snapshot: ClusterSnapshot
    inputs: GuardInputs
    policy: PolicyEngine
    recommendation: Sequence[Proposal] = ()
    recommender: str = "none"
    whatif: WhatIf | None = None
    horizon_seconds: float = 900.0
    max_proposals: int = 20
    planner_name: str = "llm"
    proposals: list[Proposal] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)  # deployments the model chose to leave alone

    def judge(self, proposal: Proposal) -> Verdict:
        """The verdict `proposal` gets after this tick's earlier proposals (as the guard)."""
        judged = judge(self.policy, [*self.proposals, proposal], self.snapshot, self.inputs)
        return judged.verdicts[-1]  # the tick's one guard stage: fails closed
