"""The LLM planner's limits and request parameters, set by the operator, read-only to
the model: tool rounds, tokens per response and per tick, wall time, malformed calls, tool
calls per round, proposals; temperature and `tool_choice`; the circuit breaker's settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gpusteward.core.model import Frozen


class LlmLimits(Frozen):
    """Per-tick bounds on the LLM planner; set by the operator, read-only to the model."""

    max_rounds: int = Field(default=8, ge=1, le=64, description="Model calls per tick.")
    max_tokens: int = Field(default=1024, ge=16, description="Completion tokens per call.")
    max_tick_tokens: int = Field(
        default=100_000, ge=1_000, description="Prompt + completion tokens per tick."
    )
    wall_seconds: float = Field(
        default=60.0, gt=0, description="The tick's wall-clock budget for the whole agent loop."
    )
    request_timeout_seconds: float = Field(default=30.0, gt=0, description="One call, seconds.")
    max_malformed_calls: int = Field(
        default=2, ge=0, description="Invalid / unknown tool calls tolerated; one more falls back."
    )
    max_calls_per_round: int = Field(default=8, ge=1)
    max_proposals: int = Field(default=20, ge=0)
    prompt_budget_tokens: int = Field(
        default=8_000, ge=1_000, description="First prompt (system + state + tools) cap."
    )
    temperature: float | None = Field(
        default=0.0, ge=0, le=2, description="Sampling temperature; None: the server's default."
    )
    tool_choice: Literal["auto", "required", "none"] = "auto"
    breaker_failures: int = Field(
        default=2, ge=1, description="Consecutive failed or timed-out ticks that open the breaker."
    )
    breaker_backoff_seconds: float = Field(
        default=300.0, gt=0, description="First back-off once open; doubles per failed probe."
    )
    breaker_max_backoff_seconds: float = Field(default=3600.0, gt=0)
    ready_timeout_seconds: float = Field(
        default=1.0,  # as a Kubernetes probe's timeoutSeconds
        gt=0,
        description="Before the first call and each probe: how long the endpoint may take "
        "to answer at all (GET /models); no answer opens the breaker at once.",
    )
