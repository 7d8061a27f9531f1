"""The composition root's LLM part: the LLM planner agent over a deterministic planner,
its client, limits and tools, and the chat's LLM answerer, all from Settings — attached
the same way to every backend and to replay."""

from __future__ import annotations

from pathlib import Path

import structlog

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.adapters.openai_llm import OpenAiChatClient
from gpusteward.app.settings_groups import LlmSettings
from gpusteward.chat.answers import JournalAnswerer
from gpusteward.core.ports import Planner, PolicyEngine
from gpusteward.core.tick import TickRecord
from runbooks.agent_tools import runbook_tools
from runbooks.model import load_library
from tools.base import ToolRegistry
from tools.context import WhatIf
from tools.propose import PROPOSAL_TOOLS
from tools.read import READ_TOOLS

log = structlog.get_logger("gpusteward.app.wiring_llm")


def llm_client(llm: LlmSettings, base_url: str) -> OpenAiChatClient:
    """The OpenAI-compatible client for `base_url` with the configured model, key and
    retries (the planner, the chat's answers and what-if replays all use this)."""
    return OpenAiChatClient.from_env(
        base_url=base_url,
        model=llm.model,
        api_key_env=llm.api_key_env,
        retries=llm.retries,
        tool_results=llm.tool_results,
    )


def journal_answerer(llm: LlmSettings, journal: Path) -> JournalAnswerer | None:
    """Free-text chat questions answered by the LLM from the journal, when one is set up."""
    if llm.base_url is None:
        return None
    client = llm_client(llm, llm.base_url)

    def records() -> list[TickRecord]:
        with SqliteJournal(journal) as j:  # its own connection: the chat runs in threads
            return j.tail(1_500)

    return JournalAnswerer(client, records, timeout_seconds=llm.timeout_seconds)


def with_llm(
    planner: Planner,
    llm: LlmSettings,
    policy: PolicyEngine,
    *,
    horizon_seconds: float,
    whatif: WhatIf | None = None,
    interval_seconds: float = 60.0,
    announce: bool = True,
) -> Planner:
    """The LLM planner agent over `planner` when an endpoint is configured, else `planner`
    (`announce`: say so in a warning, as a service run does)."""
    if llm.base_url is None:
        if announce:  # a warning: shown at the default level (README)
            log.warning(
                "no LLM endpoint configured (GPUSTEWARD_LLM_BASE_URL unset); the scenario's "
                "deterministic planner decides",
                planner=planner.name,
            )
        return planner
    client = llm_client(llm, llm.base_url)
    log.info("LLM planner", endpoint=llm.base_url, model=llm.model, fallback=planner.name)
    return LlmPlanner(
        client=client,
        fallback=planner,
        policy=policy,
        limits=llm_limits(llm),
        whatif=whatif,
        horizon_seconds=horizon_seconds,
        registry=agent_registry(),
        interval_seconds=interval_seconds,
    )


def agent_registry() -> ToolRegistry:
    """The LLM planner's tools: the read and proposal tools, and the runbook library."""
    return ToolRegistry((*READ_TOOLS, *PROPOSAL_TOOLS, *runbook_tools(load_library())))


def llm_limits(llm: LlmSettings) -> LlmLimits:
    """The planner's per-tick limits from the LLM settings (the names the agent uses)."""
    return LlmLimits(
        max_rounds=llm.max_tool_rounds,
        max_tokens=llm.max_tokens,
        max_tick_tokens=llm.max_tick_tokens,
        wall_seconds=llm.wall_seconds,
        request_timeout_seconds=llm.timeout_seconds,
        prompt_budget_tokens=llm.prompt_budget_tokens,
        temperature=llm.temperature,
        tool_choice=llm.tool_choice,
        breaker_failures=llm.breaker_failures,
        breaker_backoff_seconds=llm.breaker_backoff_seconds,
        ready_timeout_seconds=llm.ready_timeout_seconds,
    )
