"""Run models over cases: the deterministic plan's hour once per situation, then each
model's plan through the LLM planner as the daemon runs it (its tools, the guard in the
loop, the what-if over a copy of the case's simulator), scored by `scoring`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.app.agent_eval.cases import EvalCase
from gpusteward.app.agent_eval.scoring import (
    HORIZON_SECONDS,
    CaseResult,
    EvalReport,
    Outcome,
    ToolCallRecord,
    beats,
    compliant,
    decided,
    executed,
    plan_quality,
    report,
)
from gpusteward.app.agent_eval.situations import Situation, build_situation
from gpusteward.app.whatif.simulate import SimulatorWhatIf
from gpusteward.core.actions import Action
from gpusteward.core.llm import LlmClient, LlmTrace
from gpusteward.core.stages import judge, plan

Progress = Callable[[int, int, CaseResult], None]


@dataclass(frozen=True)
class Prepared:
    """A situation with its deterministic plan and that plan's hour."""

    situation: Situation
    plan: tuple[str, ...]
    outcome: Outcome
    seen: dict[tuple[str, ...], Outcome] = field(default_factory=dict)  # by action ids

    def hour_after(self, actions: Sequence[Action]) -> Outcome:
        """`outcome`, once per distinct set of actions (the same plan, the same hour)."""
        key = tuple(a.id for a in actions)
        if key not in self.seen:
            self.seen[key] = outcome(self.situation, actions)
        return self.seen[key]


def outcome(situation: Situation, actions: Sequence[Action]) -> Outcome:
    run = situation.hour_after(actions, HORIZON_SECONDS)
    return Outcome(
        attainment=round(run.attainment, 6),
        gpu_hours=round(run.gpu_hours, 4),
        dropped=run.dropped,
        finished=run.done,
    )


def prepare(case: EvalCase) -> Prepared:
    """Build the case's situation and score the deterministic plan's hour."""
    s = build_situation(case)
    proposals = plan(s.planner(), s.snapshot, s.inputs)
    verdicts = judge(s.policy, proposals, s.snapshot, s.inputs).verdicts
    actions = executed(proposals, verdicts, approver_away=s.case.approver_away)
    det = outcome(s, actions)
    return Prepared(s, decided(proposals, verdicts), det, {tuple(a.id for a in actions): det})


def score(prepared: Prepared, client: LlmClient, limits: LlmLimits) -> CaseResult:
    """One model's plan for one prepared case."""
    s = prepared.situation
    planner = LlmPlanner(
        client=client,
        fallback=s.planner(),
        policy=s.policy,
        limits=limits,
        whatif=SimulatorWhatIf(s.simulator()),
        interval_seconds=s.tick_seconds,
    )
    t0 = time.monotonic()
    planner.plan_with_inputs(s.snapshot, s.inputs)
    seconds = time.monotonic() - t0
    trace = planner.take_llm_trace() or LlmTrace(endpoint="", model="")
    mine = planner.model_proposals
    verdicts = planner.model_verdicts
    opinion = trace.outcome == "proposed"
    model = None
    quality, better = 0.0, False
    if opinion:
        actions = executed(mine, verdicts, approver_away=s.case.approver_away)
        model = prepared.hour_after(actions)
        quality = round(plan_quality(prepared.outcome, model), 4)
        better = beats(prepared.outcome, model)
    holds = tuple(
        c.arguments
        for r in trace.rounds
        if r.response is not None
        for c in r.response.message.tool_calls
        if c.name == "propose_hold"
    )
    return CaseResult(
        category=s.case.category,
        name=s.case.name,
        description=s.case.description,
        outcome=trace.outcome,
        reason=trace.fallback_reason,
        plan_quality=quality,
        compliance=compliant(verdicts) if opinion else None,
        beats_deterministic=better,
        deterministic=prepared.outcome,
        model=model,
        deterministic_plan=prepared.plan,
        model_plan=decided(mine, verdicts),
        holds=holds if opinion else (),
        answer=planner.last_answer,
        tool_calls=tool_calls(trace),
        seconds=round(seconds, 3),
        tokens=trace.prompt_tokens + trace.completion_tokens,
    )


def tool_calls(trace: LlmTrace) -> tuple[ToolCallRecord, ...]:
    return tuple(
        ToolCallRecord(name=c.name[:64], arguments=c.arguments[:2000])
        for r in trace.rounds
        if r.response is not None
        for c in r.response.message.tool_calls
    )


def run_eval(
    cases: Sequence[EvalCase],
    client: LlmClient,
    limits: LlmLimits,
    progress: Progress | None = None,
) -> EvalReport:
    """One model over `cases`, each prepared then scored."""
    t0 = time.monotonic()
    results = []
    for i, case in enumerate(cases, start=1):
        result = score(prepare(case), client, limits)
        results.append(result)
        if progress is not None:
            progress(i, len(cases), result)
    return report(client.model, client.endpoint, results, time.monotonic() - t0)
