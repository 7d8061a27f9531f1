"""The LLM planner agent as a compiled LangGraph graph: one plan stage of one tick.

    START ─► model ─┬─► tools ─┬─► model ...
                    │          └─► END   (a limit or malformed calls: `stop` says why)
                    └─► END              (an answer without tool calls, or a failed call)

`model` asks the LLM (bounded by the per-call timeout and what is left of the tick's
wall-clock budget); `tools` runs the typed tools it called. Proposal tools judge each
proposal with the guard inside the loop, so the model sees the verdict and its reasons
and may revise. Limits come from settings (`LlmLimits`), never from the model: rounds,
tokens per call and per tick, wall-clock time, malformed calls, calls per round.

The graph decides nothing about fallbacks: it returns the conversation, the proposals
the tools collected and, when it ended early, `stop` (why). `LlmPlanner` turns that into
the tick's plan. Dependencies reach the nodes through the runtime context
(`AgentContext`), never globals; the graph is compiled once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.llm.limits import LlmLimits
from gpusteward.core.llm import (
    LlmClient,
    LlmMessage,
    LlmProtocolError,
    LlmRequest,
    LlmResponse,
    LlmRound,
    LlmUnavailable,
    ToolSpec,
)
from tools.base import ToolError, ToolRegistry
from tools.context import ToolContext

MALFORMED = frozenset({"invalid_json", "unknown_tool", "invalid_arguments"})


class AgentState(TypedDict, total=False):
    messages: list[LlmMessage]
    rounds: list[LlmRound]
    prompt_tokens: int
    completion_tokens: int
    malformed: list[str]
    stop: str | None  # set when the loop ended before the model's final answer
    llm_failed: bool  # the stop was a failed or timed-out call (the circuit breaker counts it)
    answer: str


@dataclass
class AgentContext:
    """What the nodes use: the model, the tools and their tick context, the limits."""

    client: LlmClient
    registry: ToolRegistry
    tools: ToolContext
    limits: LlmLimits
    specs: tuple[ToolSpec, ...]
    monotonic: Callable[[], float]
    started: float


Ctx = Runtime[AgentContext]


def model(state: AgentState, runtime: Ctx) -> dict[str, Any]:
    """One model call; its answer (or its failure) is appended to the conversation."""
    ctx = runtime.context
    limits = ctx.limits
    messages = list(state.get("messages", []))
    rounds = list(state.get("rounds", []))
    i = len(rounds)
    remaining = limits.wall_seconds - (ctx.monotonic() - ctx.started)
    if remaining <= 0:
        return {
            "stop": f"wall time of {limits.wall_seconds:g} s used up after {i} round(s)",
            "llm_failed": True,
        }
    request = LlmRequest(
        model=ctx.client.model,
        messages=tuple(messages),
        tools=ctx.specs,
        tool_choice=limits.tool_choice,
        max_tokens=limits.max_tokens,
        temperature=limits.temperature,
    )
    t0 = ctx.monotonic()
    try:
        response = ctx.client.complete(
            request, timeout_seconds=min(limits.request_timeout_seconds, remaining)
        )
    except (LlmUnavailable, LlmProtocolError) as e:
        rounds.append(
            LlmRound(
                round=i,
                request_messages=len(messages),
                error=f"{type(e).__name__}: {e}",
                elapsed_seconds=max(0.0, ctx.monotonic() - t0),
            )
        )
        return {
            "rounds": rounds,
            "stop": f"LLM call failed ({type(e).__name__}): {e}",
            "llm_failed": True,
        }
    rounds.append(
        LlmRound(
            round=i,
            request_messages=len(messages),
            response=response,
            elapsed_seconds=max(0.0, ctx.monotonic() - t0),
        )
    )
    messages.append(_assistant(response))
    prompt = state.get("prompt_tokens", 0) + response.usage.prompt_tokens
    completion = state.get("completion_tokens", 0) + response.usage.completion_tokens
    out: dict[str, Any] = {
        "messages": messages,
        "rounds": rounds,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "answer": response.message.content or "",
    }
    if prompt + completion > limits.max_tick_tokens:
        out["stop"] = f"token budget of {limits.max_tick_tokens} per tick exceeded"
    return out


def tools(state: AgentState, runtime: Ctx) -> dict[str, Any]:
    """Run the tool calls of the model's last answer; each result goes back as a message."""
    ctx = runtime.context
    limits = ctx.limits
    messages = list(state.get("messages", []))
    malformed = list(state.get("malformed", []))
    calls = messages[-1].tool_calls
    for n, call in enumerate(calls):
        if n >= limits.max_calls_per_round:
            text = ToolError(
                tool=call.name[:64],
                error="refused",
                message=f"at most {limits.max_calls_per_round} tool calls per round",
            ).model_dump_json()
        else:
            outcome = ctx.registry.call(call.name, call.arguments, ctx.tools)
            if isinstance(outcome.result, ToolError) and outcome.result.error in MALFORMED:
                malformed.append(f"{outcome.result.error}: {outcome.result.message}")
            text = outcome.text()
        messages.append(LlmMessage(role="tool", content=text, tool_call_id=call.id))
    out: dict[str, Any] = {"messages": messages, "malformed": malformed}
    if len(malformed) > limits.max_malformed_calls:
        out["stop"] = (
            f"{len(malformed)} malformed or unknown tool calls (limit "
            f"{limits.max_malformed_calls}); last: {malformed[-1][:300]}"
        )
    elif len(state.get("rounds", [])) >= limits.max_rounds:
        out["stop"] = (
            f"no final answer after {limits.max_rounds} tool rounds (the model kept calling tools)"
        )
    return out


def _after_model(state: AgentState) -> str:
    if state.get("stop"):
        return END
    messages = state.get("messages", [])
    return "tools" if messages and messages[-1].tool_calls else END


def _after_tools(state: AgentState) -> str:
    return END if state.get("stop") else "model"


def _assistant(response: LlmResponse) -> LlmMessage:
    m = response.message
    return LlmMessage(role="assistant", content=m.content, tool_calls=m.tool_calls)


def build_agent_graph() -> StateGraph[AgentState, AgentContext, AgentState, AgentState]:
    g: StateGraph[AgentState, AgentContext, AgentState, AgentState] = StateGraph(
        AgentState, context_schema=AgentContext
    )
    g.add_node("model", model)
    g.add_node("tools", tools)
    g.add_edge(START, "model")
    g.add_conditional_edges("model", _after_model, ["tools", END])
    g.add_conditional_edges("tools", _after_tools, ["model", END])
    return g


AGENT_GRAPH = build_agent_graph().compile()


@dataclass(frozen=True)
class AgentRun:
    """How one run of the graph ended."""

    messages: tuple[LlmMessage, ...]
    rounds: tuple[LlmRound, ...]
    prompt_tokens: int
    completion_tokens: int
    answer: str
    stop: str | None
    llm_failed: bool


def run_agent(ctx: AgentContext, system: str, user: str) -> AgentRun:
    """Run the graph once for one tick's plan stage."""
    start: AgentState = {
        "messages": [
            LlmMessage(role="system", content=system),
            LlmMessage(role="user", content=user),
        ],
        "rounds": [],
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "malformed": [],
        "stop": None,
        "llm_failed": False,
        "answer": "",
    }
    # Each round is two steps (model, tools); the rounds limit ends the loop first.
    config: Any = {"recursion_limit": 2 * ctx.limits.max_rounds + 4}
    final = AGENT_GRAPH.invoke(start, config, context=ctx)
    return AgentRun(
        messages=tuple(final.get("messages", ())),
        rounds=tuple(final.get("rounds", ())),
        prompt_tokens=int(final.get("prompt_tokens", 0)),
        completion_tokens=int(final.get("completion_tokens", 0)),
        answer=str(final.get("answer", "")),
        stop=final.get("stop"),
        llm_failed=bool(final.get("llm_failed", False)),
    )
