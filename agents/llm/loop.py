"""The bounded tool loop of one tick: ask the model, run the tools it calls, repeat until it
answers without a tool call — or a limit, an LLM failure or repeated malformed calls end
the tick in a `Fallback`, carrying the reason and the trace so far.

Limits come from settings (`LlmLimits`), never from the model: tool rounds, tokens per
response and per tick, wall time, malformed calls, tool calls per round, proposals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field

from gpusteward.core.actions import Proposal
from gpusteward.core.llm import (
    LlmClient,
    LlmMessage,
    LlmProtocolError,
    LlmRequest,
    LlmResponse,
    LlmRound,
    LlmTrace,
    LlmUnavailable,
)
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Verdict
from tools.base import ToolError, ToolRegistry
from tools.context import ToolContext

MALFORMED = frozenset({"invalid_json", "unknown_tool", "invalid_arguments"})


class LlmLimits(Frozen):
    """Per-tick bounds on the LLM planner; set by the operator, read-only to the model."""

    max_rounds: int = Field(default=8, ge=1, le=64, description="Model calls per tick.")
    max_tokens: int = Field(default=1024, ge=16, description="Completion tokens per call.")
    max_tick_tokens: int = Field(
        default=100_000, ge=1_000, description="Prompt + completion tokens per tick."
    )
    wall_seconds: float = Field(default=60.0, gt=0, description="Whole tool loop, seconds.")
    request_timeout_seconds: float = Field(default=30.0, gt=0, description="One call, seconds.")
    max_malformed_calls: int = Field(
        default=2, ge=0, description="Invalid / unknown tool calls tolerated; one more falls back."
    )
    max_calls_per_round: int = Field(default=8, ge=1)
    max_proposals: int = Field(default=20, ge=0)
    prompt_budget_tokens: int = Field(
        default=8_000, ge=1_000, description="First prompt (system + state + tools) cap."
    )


class Fallback(Exception):
    """The tick must use the deterministic planner; `reason` says why."""

    def __init__(self, reason: str, trace: LlmTrace) -> None:
        super().__init__(reason)
        self.reason = reason
        self.trace = trace


@dataclass(frozen=True)
class LoopResult:
    proposals: list[Proposal]
    verdicts: list[Verdict]
    trace: LlmTrace
    answer: str


@dataclass
class ToolLoop:
    client: LlmClient
    registry: ToolRegistry
    limits: LlmLimits
    monotonic: Callable[[], float]

    def run(self, ctx: ToolContext, system: str, user: str) -> LoopResult:
        specs = self.registry.specs()
        limits = self.limits
        messages: list[LlmMessage] = [
            LlmMessage(role="system", content=system),
            LlmMessage(role="user", content=user),
        ]
        rounds: list[LlmRound] = []
        tokens = [0, 0]
        malformed: list[str] = []

        def trace(outcome: str = "proposed", reason: str | None = None) -> LlmTrace:
            return LlmTrace(
                endpoint=self.client.endpoint,
                model=self.client.model,
                tools=specs,
                max_tokens=limits.max_tokens,
                messages=tuple(messages),
                rounds=tuple(rounds),
                outcome="fallback" if outcome == "fallback" else "proposed",
                fallback_reason=reason,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
            )

        def stop(reason: str) -> Fallback:
            return Fallback(reason, trace("fallback", reason))

        started = self.monotonic()
        for i in range(limits.max_rounds):
            remaining = limits.wall_seconds - (self.monotonic() - started)
            if remaining <= 0:
                raise stop(f"wall time of {limits.wall_seconds:g} s used up after {i} round(s)")
            request = LlmRequest(
                model=self.client.model,
                messages=tuple(messages),
                tools=specs,
                max_tokens=limits.max_tokens,
            )
            t0 = self.monotonic()
            try:
                response = self.client.complete(
                    request, timeout_seconds=min(limits.request_timeout_seconds, remaining)
                )
            except (LlmUnavailable, LlmProtocolError) as e:
                rounds.append(
                    LlmRound(
                        round=i,
                        request_messages=len(messages),
                        error=f"{type(e).__name__}: {e}",
                        elapsed_seconds=max(0.0, self.monotonic() - t0),
                    )
                )
                raise stop(f"LLM call failed ({type(e).__name__}): {e}") from None
            rounds.append(
                LlmRound(
                    round=i,
                    request_messages=len(messages),
                    response=response,
                    elapsed_seconds=max(0.0, self.monotonic() - t0),
                )
            )
            messages.append(_assistant(response))
            tokens[0] += response.usage.prompt_tokens
            tokens[1] += response.usage.completion_tokens
            if sum(tokens) > limits.max_tick_tokens:
                raise stop(f"token budget of {limits.max_tick_tokens} per tick exceeded")
            calls = response.message.tool_calls
            if not calls:
                return LoopResult(
                    list(ctx.proposals), list(ctx.verdicts), trace(), response.message.content or ""
                )
            for n, call in enumerate(calls):
                if n >= limits.max_calls_per_round:
                    text = ToolError(
                        tool=call.name[:64],
                        error="refused",
                        message=f"at most {limits.max_calls_per_round} tool calls per round",
                    ).model_dump_json()
                else:
                    outcome = self.registry.call(call.name, call.arguments, ctx)
                    if isinstance(outcome.result, ToolError) and outcome.result.error in MALFORMED:
                        malformed.append(f"{outcome.result.error}: {outcome.result.message}")
                    text = outcome.text()
                messages.append(LlmMessage(role="tool", content=text, tool_call_id=call.id))
            if len(malformed) > limits.max_malformed_calls:
                raise stop(
                    f"{len(malformed)} malformed or unknown tool calls (limit "
                    f"{limits.max_malformed_calls}); last: {malformed[-1][:300]}"
                )
        raise stop(
            f"no final answer after {limits.max_rounds} tool rounds (the model kept calling tools)"
        )


def _assistant(response: LlmResponse) -> LlmMessage:
    m = response.message
    return LlmMessage(role="assistant", content=m.content, tool_calls=m.tool_calls)
