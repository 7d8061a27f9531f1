"""The LLM port: chat-completions requests and responses as typed values, and their record.

Only the features every OpenAI-compatible server shares are modelled (messages, tools,
`tool_choice`, `max_tokens`, `temperature`), so vLLM, Ollama and llama.cpp servers work as
well as OpenAI. A message's `content` may be None here; what goes on the wire for it is the
adapter's business (servers differ: llama-cpp-python refuses null). Tool-call arguments
stay the raw string the model produced: they are untrusted until a tool's args model
validates them. Pure types; the SDK lives in one adapter.

Errors: `LlmUnavailable` (timeout, connection, HTTP error: the next tick may succeed) and
`LlmProtocolError` (a response that is not a valid chat completion).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import Field

from gpusteward.core.errors import Permanent, Retryable
from gpusteward.core.model import Frozen

JsonSchema = dict[str, object]
# How an LlmTrace's fallback_reason starts on a tick where the circuit breaker kept the
# model from being called (read by the metrics and by replay).
BREAKER_OPEN = "circuit breaker open"
ToolChoice = Literal["auto", "none", "required"]


class LlmUnavailable(Retryable):
    """The endpoint timed out, refused the connection, or answered with an HTTP error."""


class LlmProtocolError(Permanent):
    """The endpoint answered with something that is not a usable chat completion."""


class ToolSpec(Frozen):
    """One tool as the model sees it (OpenAI `tools` format, type 'function')."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str
    parameters: JsonSchema

    def openai(self) -> dict[str, object]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class LlmToolCall(Frozen):
    id: str
    name: str
    arguments: str = Field(description="Raw JSON text from the model; untrusted.")


class LlmMessage(Frozen):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: tuple[LlmToolCall, ...] = ()
    tool_call_id: str | None = None


class LlmRequest(Frozen):
    model: str
    messages: tuple[LlmMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2, description="None: server's.")


class LlmUsage(Frozen):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class LlmResponse(Frozen):
    message: LlmMessage
    finish_reason: str | None = None
    usage: LlmUsage = LlmUsage()


@runtime_checkable
class LlmClient(Protocol):
    """One chat-completions call. Raises `LlmUnavailable` or `LlmProtocolError`, never
    an SDK error; `timeout_seconds` bounds the whole call, retries included."""

    model: str
    endpoint: str

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse: ...


@runtime_checkable
class ChecksReady(Protocol):
    """An `LlmClient` that can tell quickly whether its endpoint answers at all (a cheap
    request such as GET /models), so a dead or hung endpoint costs seconds, not the whole
    completion timeout. Raises `LlmUnavailable` when nothing answers in time; any HTTP
    answer, an error status included, means the server is there."""

    def ready(self, *, timeout_seconds: float) -> None: ...


class LlmRound(Frozen):
    """One request/response pair. The request is `LlmTrace.messages[:request_messages]`
    plus the trace's tools and parameters, so rounds do not repeat the conversation."""

    round: int = Field(ge=0)
    request_messages: int = Field(ge=1)
    response: LlmResponse | None = None
    error: str | None = None
    elapsed_seconds: float = Field(default=0.0, ge=0)


class LlmTrace(Frozen):
    """Everything the LLM planner sent and received in one tick, and how it ended.

    Enough to replay the tick without the LLM: play `rounds[i].response` in order.
    `fallback_reason` is set when the tick used the deterministic planner instead.
    """

    endpoint: str
    model: str
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    messages: tuple[LlmMessage, ...] = ()
    rounds: tuple[LlmRound, ...] = ()
    tool_choice: Literal["auto", "none", "required"] = "auto"
    temperature: float | None = None
    outcome: Literal["proposed", "fallback", "no_opinion"] = "proposed"
    fallback_reason: str | None = None
    fallback_planner: str | None = None
    floor: tuple[str, ...] = Field(
        default=(), description="What the SLO floor dropped from or added to the model's plan."
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def request(self, i: int) -> LlmRequest:
        """The exact request of round `i`, rebuilt from the shared conversation."""
        r = self.rounds[i]
        return LlmRequest(
            model=self.model,
            messages=self.messages[: r.request_messages],
            tools=self.tools,
            tool_choice=self.tool_choice,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )


@runtime_checkable
class RecordsLlmTrace(Protocol):
    """A planner that talked to an LLM hands the daemon its trace once per tick."""

    def take_llm_trace(self) -> LlmTrace | None: ...
