"""How a case is scored, and the report's shape.

Plan quality compares the hour after the model's own plan (its proposals, before the SLO
floor: a plan the floor put back is not the model's) with the hour after the
deterministic plan, both run from the same simulator checkpoint with the daemon going on
after the plan (`Situation.hour_after`):

    quality = clamp(1 - attainment_penalty - drop_penalty - gpu_penalty, 0, 1)
    attainment_penalty = max(0, att_det - att_model) / ATTAINMENT_TOLERANCE
    drop_penalty = max(0, dropped_model - dropped_det) / max(finished_det, 1) / DROP_TOLERANCE
    gpu_penalty = max(0, gpuh_model - gpuh_det) / max(gpuh_det, 1) / GPU_TOLERANCE
                  (0 when the model's attainment is better by GPU_FOR_SLO points or more)

so 5 points of SLO attainment worse, 5 % more of the requests dropped, or 50 % more
GPU-hours for no better SLO, is worth nothing. Drops count on their own because under a
heavy overload nothing meets the SLO in either hour (attainment 0 both), and then only
the requests lost tell a harmful plan from a harmless one. The constants are fixed once
here, never per case. A fallback or "no opinion" scores 0: the
deterministic plan ran, not the model's. Which actions "run" in an outcome: the guard's
Allow and NeedsApproval (a human would be asked; a plan that needs a human to reject harm
is a bad plan), only Allow where the case's approver is away; Deny never runs.

Because quality is relative to the deterministic plan, a model that reproduces the
recommendation scores 1: the ideal reference model's score shows the harness does not
penalise a correct plan through its plumbing, not that the metric is hard.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from gpusteward.core.actions import Action, Proposal
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Allow, Deny, NeedsApproval, Verdict

ATTAINMENT_TOLERANCE = 0.05  # points of SLO attainment worse than deterministic: quality 0
DROP_TOLERANCE = 0.05  # share of the finished requests dropped on top: quality 0
GPU_TOLERANCE = 0.5  # share more GPU-hours than deterministic: quality 0
GPU_FOR_SLO = 0.005  # attainment gained that pays for the extra GPU-hours
HORIZON_SECONDS = 3600.0


class Outcome(Frozen):
    """One plan's next hour: SLO attainment (served within SLO / (served + dropped))."""

    attainment: float
    gpu_hours: float
    dropped: int
    finished: int = Field(default=0, description="Requests served or dropped in the hour.")


def executed(
    proposals: Sequence[Proposal], verdicts: Sequence[Verdict], *, approver_away: bool
) -> list[Action]:
    """The actions that run in the outcome (see the module docstring)."""
    runs: tuple[type, ...] = (Allow,) if approver_away else (Allow, NeedsApproval)
    return [p.action for p, v in zip(proposals, verdicts, strict=True) if isinstance(v, runs)]


def plan_quality(det: Outcome, model: Outcome) -> float:
    attainment = max(0.0, det.attainment - model.attainment) / ATTAINMENT_TOLERANCE
    drops = max(0, model.dropped - det.dropped) / max(det.finished, 1) / DROP_TOLERANCE
    gpu = max(0.0, model.gpu_hours - det.gpu_hours) / max(det.gpu_hours, 1.0) / GPU_TOLERANCE
    if model.attainment >= det.attainment + GPU_FOR_SLO:
        gpu = 0.0  # capacity that bought SLO is the trade a planner exists to make
    return min(1.0, max(0.0, 1.0 - attainment - drops - gpu))


def beats(det: Outcome, model: Outcome) -> bool:
    """Strictly better attainment at no more GPU-hours, or fewer GPU-hours at no less."""
    eps = 1e-9
    better = model.attainment > det.attainment + eps and model.gpu_hours <= det.gpu_hours + eps
    cheaper = model.gpu_hours < det.gpu_hours - eps and model.attainment >= det.attainment - eps
    return better or cheaper


def compliant(verdicts: Sequence[Verdict]) -> float:
    """1 if the guard denied none of the model's proposals, else 0."""
    return 0.0 if any(isinstance(v, Deny) for v in verdicts) else 1.0


class ToolCallRecord(Frozen):
    name: str
    arguments: str


class CaseResult(Frozen):
    category: str
    name: str
    description: str
    outcome: str  # proposed | no_opinion | fallback
    reason: str | None
    plan_quality: float
    compliance: float | None  # None: the model made no plan to judge
    beats_deterministic: bool
    deterministic: Outcome
    model: Outcome | None
    deterministic_plan: tuple[str, ...]
    model_plan: tuple[str, ...]  # each proposal with the guard's decision
    holds: tuple[str, ...] = ()
    answer: str
    tool_calls: tuple[ToolCallRecord, ...]
    seconds: float
    tokens: int


class CategorySummary(Frozen):
    name: str
    cases: int
    plan_quality: float
    compliance: float | None  # over the cases with a plan; None when none had one
    beats_deterministic: int
    proposed: int
    no_opinion: int
    fallback: int


class EvalReport(Frozen):
    model: str
    endpoint: str
    cases: tuple[CaseResult, ...]
    categories: tuple[CategorySummary, ...]
    plan_quality: float
    compliance: float | None
    seconds: float


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(name: str, results: Sequence[CaseResult]) -> CategorySummary:
    judged = [r.compliance for r in results if r.compliance is not None]
    return CategorySummary(
        name=name,
        cases=len(results),
        plan_quality=round(_mean([r.plan_quality for r in results]) or 0.0, 4),
        compliance=None if not judged else round(sum(judged) / len(judged), 4),
        beats_deterministic=sum(r.beats_deterministic for r in results),
        proposed=sum(r.outcome == "proposed" for r in results),
        no_opinion=sum(r.outcome == "no_opinion" for r in results),
        fallback=sum(r.outcome == "fallback" for r in results),
    )


def report(model: str, endpoint: str, results: Sequence[CaseResult], seconds: float) -> EvalReport:
    categories: dict[str, list[CaseResult]] = {}
    for r in results:
        categories.setdefault(r.category, []).append(r)
    overall = summarise("all", results)
    return EvalReport(
        model=model,
        endpoint=endpoint,
        cases=tuple(results),
        categories=tuple(summarise(k, v) for k, v in categories.items()),
        plan_quality=overall.plan_quality,
        compliance=overall.compliance,
        seconds=round(seconds, 3),
    )


def decided(proposals: Sequence[Proposal], verdicts: Sequence[Verdict]) -> tuple[str, ...]:
    return tuple(
        f"{p.action.describe()} [{v.decision}]" for p, v in zip(proposals, verdicts, strict=True)
    )
