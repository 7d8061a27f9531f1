"""What the guard said about a proposal, and what executing it did."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from gpusteward.core.actions import Action
from gpusteward.core.model import Frozen

RuleMode = Literal["enforce", "warn", "audit"]
Effect = Literal["allow", "deny", "needs_approval"]


class RuleHit(Frozen):
    """One rule that decided (or contributed to) a verdict, with the values it saw.

    `effect` is what the rule asked for; `mode` says whether it was enforced or only
    recorded (`warn`: logged and recorded; `audit`: recorded) without changing the verdict.
    """

    rule: str
    reason: str
    values: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    effect: Effect | None = None
    mode: RuleMode = "enforce"


class _VerdictBase(Frozen):
    action_id: str
    policy_version: str = "v0"
    rules: tuple[RuleHit, ...] = ()
    shadow: tuple[RuleHit, ...] = Field(
        default=(), description="warn / audit rules that fired: would-be outcomes, not enforced"
    )

    @property
    def reason(self) -> str:
        return "; ".join(f"[{h.rule}] {h.reason}" for h in self.rules) or "no rule matched"


class Allow(_VerdictBase):
    decision: Literal["allow"] = "allow"


class Deny(_VerdictBase):
    decision: Literal["deny"] = "deny"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class NeedsApproval(_VerdictBase):
    decision: Literal["needs_approval"] = "needs_approval"
    approver_group: str = "oncall"
    expires_in_seconds: float = Field(default=3600.0, gt=0)
    severity: Severity = Severity.MEDIUM


Verdict = Annotated[Allow | Deny | NeedsApproval, Field(discriminator="decision")]


class ResultStatus(StrEnum):
    APPLIED = "applied"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    DUPLICATE = "duplicate"  # the id was executed before; nothing done
    SUPERSEDED = "superseded"  # re-validation found the world changed


# Statuses that mean the action ran for real (DUPLICATE: the backend says it ran before).
# Such an id must never run again; dry-run, failed and superseded ids may.
EXECUTED_STATUSES = frozenset({ResultStatus.APPLIED, ResultStatus.DUPLICATE})


class ActionResult(Frozen):
    action_id: str
    status: ResultStatus
    message: str = ""
    at: AwareDatetime


class ExecutedAction(Frozen):
    """An action that ran (for cooldowns, rate limits and step-per-hour rules)."""

    action: Action
    at: AwareDatetime
    status: ResultStatus = ResultStatus.APPLIED
