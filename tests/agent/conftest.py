"""Shared pieces for the LLM planner tests: the default policy, the scripted server, a
real `openai` client pointed at it, and an `LlmPlanner` over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.adapters.openai_llm import OpenAiChatClient
from gpusteward.core.ports import Planner
from gpusteward.testing import StaticPlanner
from gpusteward.testing.llm import ScriptedLlmServer, Step
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

FAST = LlmLimits(request_timeout_seconds=0.5, wall_seconds=10.0, max_rounds=6)


@pytest.fixture(scope="session")
def policy() -> RulePolicyEngine:
    path = PACKS_DIR / "default.yaml"
    return RulePolicyEngine(load_policy(path.read_text(), str(path)))


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedLlmServer]]:
    servers: list[ScriptedLlmServer] = []

    def start(script: list[Step] | None = None, **kwargs: Any) -> ScriptedLlmServer:
        server = ScriptedLlmServer(script or [], hold_seconds=2.0, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


def client_for(server: ScriptedLlmServer, retries: int = 0) -> OpenAiChatClient:
    return OpenAiChatClient(
        base_url=server.base_url, model="scripted", api_key=None, retries=retries
    )


def llm_planner(
    server: ScriptedLlmServer,
    policy: RulePolicyEngine,
    fallback: Planner | None = None,
    limits: LlmLimits = FAST,
) -> LlmPlanner:
    return LlmPlanner(
        client=client_for(server),
        fallback=fallback or StaticPlanner(name="deterministic"),
        policy=policy,
        limits=limits,
    )
