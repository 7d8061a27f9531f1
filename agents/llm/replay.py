"""Replay a recorded tick without the LLM: an `LlmClient` that plays a trace's responses.

Each call must send exactly the request that was recorded for that round; a different
request (the code or the data changed) raises `LlmProtocolError` naming the round.
"""

from __future__ import annotations

from gpusteward.core.llm import LlmProtocolError, LlmRequest, LlmResponse, LlmTrace


class ReplayLlmClient:
    def __init__(self, trace: LlmTrace, *, strict: bool = True) -> None:
        self.trace = trace
        self.endpoint = f"replay:{trace.endpoint}"
        self.model = trace.model
        self.strict = strict
        self.calls = 0

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        i = self.calls
        self.calls += 1
        if i >= len(self.trace.rounds):
            raise LlmProtocolError(f"replay: round {i} was not recorded")
        recorded = self.trace.rounds[i]
        if self.strict and request.messages != self.trace.request(i).messages:
            raise LlmProtocolError(f"replay: round {i} sent a different request than recorded")
        if recorded.response is None:
            raise LlmProtocolError(f"replay: round {i} failed when recorded: {recorded.error}")
        return recorded.response
