"""`LlmPlanner`: the LLM planner agent behind the `Planner` port, with the deterministic
planner as its recommendation tool and its fallback.

Per tick the deterministic planner runs exactly once (its memory stays as if it were the
only planner); the model then works through the tools. Whatever goes wrong — no client,
an LLM error, a limit, malformed calls, a bug — the tick gets the deterministic
proposals, the reason is logged, and the trace (`take_llm_trace`) records it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from agents.llm.loop import Fallback, LlmLimits, ToolLoop
from agents.llm.prompts import SYSTEM_PROMPT, user_message
from agents.llm.summary import summarise
from agents.llm.tokens import count_prompt
from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.llm import LlmClient, LlmMessage, LlmTrace, ToolSpec
from gpusteward.core.load import Forecast
from gpusteward.core.ports import GuardInputs, Planner, PolicyEngine
from tools.base import ToolRegistry
from tools.context import ToolContext, WhatIf
from tools.registry import default_registry

log = structlog.get_logger("gpusteward.agents.llm")

TOP_K_STEPS = (8, 6, 4, 3, 2, 1)


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
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.policy = policy
        self.limits = limits or LlmLimits()
        self.registry = registry or default_registry()
        self.whatif = whatif
        self.horizon_seconds = horizon_seconds
        self.monotonic = monotonic
        self.last_answer = ""
        self._trace: LlmTrace | None = None

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        return self.plan_with_inputs(snapshot, GuardInputs(forecasts=forecasts))

    def plan_with_inputs(self, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
        recommended = self.fallback.plan(snapshot, inputs.forecasts)
        if self.client is None:
            self._trace = None
            log.info("no LLM client; the deterministic planner decides", planner=self.fallback.name)
            return recommended
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
        loop = ToolLoop(self.client, self.registry, self.limits, self.monotonic)
        try:
            system, user, _ = initial_prompt(snapshot, inputs, self.limits, self.registry.specs())
            result = loop.run(ctx, system, user)
        except Fallback as f:
            return self._fall_back(f.reason, f.trace, recommended)
        except Exception as e:  # a bug here must not cost the tick its plan
            trace = LlmTrace(endpoint=self.client.endpoint, model=self.client.model)
            return self._fall_back(
                f"LLM planner failed: {type(e).__name__}: {e}", trace, recommended
            )
        self._trace = result.trace
        self.last_answer = result.answer
        log.info(
            "LLM planner proposed",
            proposals=len(result.proposals),
            rounds=len(result.trace.rounds),
            tokens=result.trace.prompt_tokens + result.trace.completion_tokens,
        )
        return result.proposals

    def _fall_back(
        self, reason: str, trace: LlmTrace, recommended: list[Proposal]
    ) -> list[Proposal]:
        self._trace = trace.model_copy(
            update={
                "outcome": "fallback",
                "fallback_reason": reason,
                "fallback_planner": self.fallback.name,
            }
        )
        log.warning(
            "LLM planner fell back to the deterministic planner",
            reason=reason,
            planner=self.fallback.name,
        )
        return recommended

    def take_llm_trace(self) -> LlmTrace | None:
        trace, self._trace = self._trace, None
        return trace

    # A daemon checkpoint pickles its planner: keep the deterministic planner's memory,
    # drop the client, policy and ports (the composition root re-attaches them).
    def __getstate__(self) -> dict[str, Any]:
        return {
            "fallback": self.fallback,
            "limits": self.limits,
            "horizon_seconds": self.horizon_seconds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            client=None,
            fallback=state["fallback"],
            policy=_NoPolicy(),
            limits=state["limits"],
            horizon_seconds=state["horizon_seconds"],
        )


class _NoPolicy:
    """Stands in after unpickling until the composition root re-attaches the real engine."""

    version = "detached"

    def evaluate(self, proposals: Any, snapshot: Any, inputs: Any = None) -> list[Any]:
        raise RuntimeError("LlmPlanner restored from a checkpoint without its policy engine")
