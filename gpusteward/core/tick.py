"""The journal's unit: everything one tick saw, decided and did."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.diagnosis import DiagnosticWarning
from gpusteward.core.llm import LlmTrace
from gpusteward.core.load import Forecast
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import ActionResult, Verdict


class Stage(StrEnum):
    OBSERVE = "observe"
    FORECAST = "forecast"
    PLAN = "plan"
    GUARD = "guard"
    APPROVE = "approve"
    ACT = "act"
    DIAGNOSE = "diagnose"


class StageError(Frozen):
    stage: Stage
    error_type: str
    message: str


class TickRecord(Frozen):
    seq: int = Field(ge=0, description="0-based tick number within the journal.")
    at: AwareDatetime
    snapshot: ClusterSnapshot | None
    forecasts: tuple[Forecast, ...] = ()
    planner: str = ""
    proposals: tuple[Proposal, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    approvals: tuple[ApprovalRequest, ...] = ()
    results: tuple[ActionResult, ...] = ()
    errors: tuple[StageError, ...] = ()
    dry_run: bool = False
    llm: LlmTrace | None = Field(
        default=None,
        description="What the LLM planner sent and received this tick, and why it fell back.",
    )
    forecaster: str = Field(
        default="", description="The forecaster that made `forecasts` (name, and version)."
    )
    policy_version: str = Field(default="", description="The policy that judged this tick.")
    warnings: tuple[DiagnosticWarning, ...] = Field(
        default=(),
        description="The diagnostics' open warnings at this tick, and those resolved at it.",
    )
