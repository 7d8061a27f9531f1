"""Recorded stand-ins for the LLM and the what-if simulator, for regression replay.

`RecordedLlmClient` answers each chat-completions call with the response recorded for
that round of that tick, and only if the request is exactly the recorded one (messages —
tool results included — tools, model, max_tokens). Anything else is a *violation*: it is
kept in `violations` and raised as `LlmProtocolError`, so a replay can fail on any LLM or
tool request the record does not contain. It never opens a connection.

`RecordedWhatIf` plays back the what-if projections the tick's tool results recorded.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence

from gpusteward.core.actions import Action
from gpusteward.core.llm import LlmProtocolError, LlmRequest, LlmResponse, LlmTrace
from tools.base import Unavailable
from tools.context import WhatIfProjection


class RecordedLlmClient:
    """An `LlmClient` over one recorded `LlmTrace` per tick (`load` it before the tick)."""

    def __init__(self) -> None:
        self.endpoint = "recorded"
        self.model = "recorded"
        self.trace: LlmTrace | None = None
        self.calls = 0
        self.violations: list[str] = []

    def load(self, trace: LlmTrace | None) -> None:
        self.trace, self.calls, self.violations = trace, 0, []
        if trace is not None:
            self.endpoint, self.model = trace.endpoint, trace.model

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        i = self.calls
        self.calls += 1
        trace = self.trace
        if trace is None:
            return self._violation(f"round {i}: the record has no LLM exchange for this tick")
        if i >= len(trace.rounds):
            return self._violation(
                f"round {i}: not recorded (the record has {len(trace.rounds)} round(s))"
            )
        expected = trace.request(i)
        problem = _difference(expected, request)
        if problem is not None:
            return self._violation(f"round {i}: request not in the record: {problem}")
        response = trace.rounds[i].response
        if response is None:
            raise LlmProtocolError(f"round {i} failed when recorded: {trace.rounds[i].error}")
        return response

    def _violation(self, message: str) -> LlmResponse:
        self.violations.append(message)
        raise LlmProtocolError(f"replay: {message}")


def _difference(expected: LlmRequest, got: LlmRequest) -> str | None:
    if got.model != expected.model:
        return f"model {got.model!r}, recorded {expected.model!r}"
    if got.tools != expected.tools:
        return "a different tool set"
    if (got.tool_choice, got.temperature) != (expected.tool_choice, expected.temperature):
        return (
            f"tool_choice/temperature {got.tool_choice}/{got.temperature}, recorded "
            f"{expected.tool_choice}/{expected.temperature}"
        )
    if got.max_tokens != expected.max_tokens:
        return f"max_tokens {got.max_tokens}, recorded {expected.max_tokens}"
    if len(got.messages) != len(expected.messages):
        return f"{len(got.messages)} messages, recorded {len(expected.messages)}"
    for n, (a, b) in enumerate(zip(got.messages, expected.messages, strict=True)):
        if a != b:
            what = "tool result" if a.role == "tool" else f"{a.role} message"
            return f"message {n} ({what}) differs from the record"
    return None


class RecordedWhatIf:
    """`tools.context.WhatIf` that returns the projections recorded in a tick's trace, in order."""

    def __init__(self) -> None:
        self._queue: deque[WhatIfProjection] = deque()

    def load(self, trace: LlmTrace | None) -> None:
        self._queue = deque(recorded_projections(trace))

    def project(self, actions: Sequence[Action], horizon_seconds: float) -> WhatIfProjection:
        if not self._queue:
            raise Unavailable("replay: no what-if projection recorded for this call")
        return self._queue.popleft()


def recorded_projections(trace: LlmTrace | None) -> list[WhatIfProjection]:
    """The what-if projections a trace's tool results carry, in call order."""
    if trace is None:
        return []
    calls = {c.id: c.name for m in trace.messages for c in m.tool_calls}
    out = []
    for m in trace.messages:
        if m.role != "tool" or calls.get(m.tool_call_id or "") != "what_if" or not m.content:
            continue
        body = json.loads(m.content)
        if body.get("ok") and "projection" in body:
            out.append(WhatIfProjection.model_validate(body["projection"]))
    return out
