"""`LlmPlanner`: the LLM planner agent behind the `Planner` port, with the deterministic
planner as its recommendation tool, its fallback and its floor.

Per tick the deterministic planner runs exactly once (its memory stays as if it were the
only planner); the model then works through the tools in the LangGraph agent graph
(`agents.llm.agent`). What the model says decides the plan only when it is an opinion:

- a failed or timed-out call, a limit, malformed calls or a bug: **fallback**, the
  deterministic plan stands; failed calls count towards the circuit breaker;
- an empty answer, a refusal or text without proposals: **no opinion**, the deterministic
  plan stands (silence is never "do nothing");
- proposals, or holds (`propose_hold`: "this deployment needs no change", the typed way
  to say that doing nothing is right): the model's plan, with the SLO floor kept under it
  (`agents.llm.floor`); a tick with only holds keeps just the scale-ups the floor needs.

`model_proposals` / `model_verdicts` are the model's own proposals of the last tick and
the guard's verdicts on them, before the floor (empty unless the outcome was "proposed"):
what an eval scores, so a plan the floor put back is never credited to the model.

While the circuit breaker is open the model is not called at all. Every case is in the
tick's `LlmTrace` (`take_llm_trace`): its outcome, the reason and every exchange.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from agents.llm.agent import AgentContext, AgentRun, run_agent
from agents.llm.breaker import CallGate, CircuitBreaker
from agents.llm.floor import apply_floor
from agents.llm.limits import LlmLimits
from agents.llm.prompts import SYSTEM_PROMPT, user_message
from agents.llm.summary import summarise
from agents.llm.tokens import count_prompt
from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.llm import (
    BREAKER_OPEN,
    ChecksReady,
    LlmClient,
    LlmMessage,
    LlmTrace,
    LlmUnavailable,
    ToolSpec,
)
from gpusteward.core.load import Forecast
from gpusteward.core.ports import GuardInputs, Planner, PolicyEngine, RemembersState
from gpusteward.core.verdicts import Verdict
from tools.base import ToolRegistry
from tools.context import ToolContext, WhatIf
from tools.registry import default_registry

log = structlog.get_logger("gpusteward.agents.llm")

TOP_K_STEPS = (8, 6, 4, 3, 2, 1)
NO_OPINION = "no opinion"


def initial_prompt(
    snapshot: ClusterSnapshot,
    inputs: GuardInputs,
    limits: LlmLimits,
    tools: tuple[ToolSpec, ...],
) -> tuple[str, str, int]:
    """(system, user, prompt tokens): the largest top-K whose prompt fits the budget."""
    for top in TOP_K_STEPS:
        user = user_message(
            summarise(snapshot, inputs, top), limits.max_rounds, limits.max_proposals
        )
        messages = (
            LlmMessage(role="system", content=SYSTEM_PROMPT),
            LlmMessage(role="user", content=user),
        )
        tokens = count_prompt(messages, tools)
        if tokens <= limits.prompt_budget_tokens:
            return SYSTEM_PROMPT, user, tokens
    raise ValueError(
        f"the prompt needs {tokens} tokens even with one model per list; budget "
        f"{limits.prompt_budget_tokens}. Fix: raise GPUSTEWARD_LLM_PROMPT_BUDGET_TOKENS."
    )


class LlmPlanner:
    """A `Planner` (and `GuardAwarePlanner`, `RecordsLlmTrace`) driven by an LLM."""

    name = "llm"
    blocking_io = True  # waits on HTTP: the daemon runs it off its event loop

    def __init__(
        self,
        *,
        client: LlmClient | None,
        fallback: Planner,
        policy: PolicyEngine,
        limits: LlmLimits | None = None,
        registry: ToolRegistry | None = None,
        whatif: WhatIf | None = None,
        horizon_seconds: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
        gate: CallGate | None = None,
        interval_seconds: float = 60.0,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.policy = policy
        self.limits = limits or LlmLimits()
        self.registry = registry or default_registry()
        self.whatif = whatif
        self.horizon_seconds = horizon_seconds
        self.interval_seconds = interval_seconds
        self.monotonic = monotonic
        self.gate: CallGate = gate or CircuitBreaker(
            failures=self.limits.breaker_failures,
            backoff_seconds=self.limits.breaker_backoff_seconds,
            max_backoff_seconds=self.limits.breaker_max_backoff_seconds,
            monotonic=monotonic,
        )
        self.last_answer = ""
        self.model_proposals: tuple[Proposal, ...] = ()
        self.model_verdicts: tuple[Verdict, ...] = ()
        self._answered = False  # the endpoint answered the last call: no readiness check
        self._trace: LlmTrace | None = None

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        return self.plan_with_inputs(snapshot, GuardInputs(forecasts=forecasts))

    def plan_with_inputs(self, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
        recommended = self.fallback.plan(snapshot, inputs.forecasts)
        self.last_answer = ""
        self.model_proposals, self.model_verdicts = (), ()
        if self.client is None:
            self._trace = None
            log.info("no LLM client; the deterministic planner decides", planner=self.fallback.name)
            return recommended
        empty = LlmTrace(endpoint=self.client.endpoint, model=self.client.model)
        refusal = self.gate.refuse() or self._unready()
        if refusal is not None:
            return self._fall_back(refusal, empty, recommended)
        ctx = ToolContext(
            snapshot=snapshot,
            inputs=inputs,
            policy=self.policy,
            recommendation=recommended,
            recommender=self.fallback.name,
            whatif=self.whatif,
            horizon_seconds=self.horizon_seconds,
            max_proposals=self.limits.max_proposals,
            planner_name=self.name,
        )
        try:
            system, user, _ = initial_prompt(snapshot, inputs, self.limits, self.registry.specs())
            run = run_agent(self._agent_context(ctx), system, user)
        except Exception as e:  # a bug here must not cost the tick its plan
            return self._fall_back(
                f"LLM planner failed: {type(e).__name__}: {e}", empty, recommended
            )
        trace = self._trace_of(run)
        self.last_answer = run.answer
        self._answered = bool(run.rounds) and run.rounds[-1].response is not None
        if run.stop is not None:
            self.gate.record(ok=not run.llm_failed, reason=run.stop)
            return self._fall_back(run.stop, trace, recommended)
        self.gate.record(ok=True)
        if not ctx.proposals and not ctx.holds:
            said = run.answer.strip()
            reason = f"{NO_OPINION}: the model proposed nothing" + (
                f" (it said: {said[:200]!r})" if said else " (an empty answer)"
            )
            return self._fall_back(reason, trace, recommended)
        self.model_proposals, self.model_verdicts = tuple(ctx.proposals), tuple(ctx.verdicts)
        floor = apply_floor(snapshot, ctx.proposals, recommended, self.interval_seconds)
        self._trace = trace.model_copy(update={"floor": floor.notes})
        log.info(
            "LLM planner proposed",
            proposals=len(ctx.proposals),
            holds=len(ctx.holds),
            floor=len(floor.notes),
            rounds=len(run.rounds),
            tokens=run.prompt_tokens + run.completion_tokens,
        )
        return floor.proposals

    def _unready(self) -> str | None:
        """Before the first call, and again after a failure, check that the endpoint answers
        at all; one that does not trips the breaker (its reason is this tick's)."""
        if self._answered or not isinstance(self.client, ChecksReady):
            return None
        try:
            self.client.ready(timeout_seconds=self.limits.ready_timeout_seconds)
        except LlmUnavailable as e:
            self.gate.record(ok=False, reason=str(e), trip=True)
            return f"{BREAKER_OPEN}: the endpoint does not answer ({e})"
        return None

    def _agent_context(self, tools: ToolContext) -> AgentContext:
        assert self.client is not None
        return AgentContext(
            client=self.client,
            registry=self.registry,
            tools=tools,
            limits=self.limits,
            specs=self.registry.specs(),
            monotonic=self.monotonic,
            started=self.monotonic(),
        )

    def _trace_of(self, run: AgentRun) -> LlmTrace:
        assert self.client is not None
        return LlmTrace(
            endpoint=self.client.endpoint,
            model=self.client.model,
            tools=self.registry.specs(),
            max_tokens=self.limits.max_tokens,
            tool_choice=self.limits.tool_choice,
            temperature=self.limits.temperature,
            messages=run.messages,
            rounds=run.rounds,
            prompt_tokens=run.prompt_tokens,
            completion_tokens=run.completion_tokens,
        )

    def _fall_back(
        self, reason: str, trace: LlmTrace, recommended: list[Proposal]
    ) -> list[Proposal]:
        outcome = "no_opinion" if reason.startswith(NO_OPINION) else "fallback"
        self._trace = trace.model_copy(
            update={
                "outcome": outcome,
                "fallback_reason": reason,
                "fallback_planner": self.fallback.name,
            }
        )
        log.warning(
            "the deterministic plan stands",
            outcome=outcome,
            reason=reason,
            planner=self.fallback.name,
        )
        return recommended

    def take_llm_trace(self) -> LlmTrace | None:
        trace, self._trace = self._trace, None
        return trace

    # The deterministic planner's memory is what a checkpoint keeps: this planner's own
    # (breaker, last answer) is about this process and its endpoint, not the load.
    def state(self) -> Mapping[str, Any]:
        return self.fallback.state() if isinstance(self.fallback, RemembersState) else {}

    def restore(self, state: Mapping[str, Any]) -> None:
        if isinstance(self.fallback, RemembersState):
            self.fallback.restore(state)
