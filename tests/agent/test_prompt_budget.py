"""The first prompt for the real 1,213-node openb cluster fits 8,000 tokens (o200k_base,
counted offline with bpe-openai, tool schemas included) and still names the models that
matter: the busiest, the idle and the over-SLO."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from agents.llm.limits import LlmLimits
from agents.llm.planner import initial_prompt
from agents.llm.tokens import count_text
from gpusteward.core.cluster import ServingMetrics
from gpusteward.core.load import LoadSeries
from gpusteward.core.ports import GuardInputs
from tests.openb import DATA, policy_benchmark, requires_openb
from tools.registry import default_registry

pytestmark = requires_openb


def _bench() -> ModuleType:
    return policy_benchmark()


@pytest.fixture(scope="module")
def openb() -> Any:
    """The benchmark's openb snapshot, with one idle and one over-SLO deployment planted
    among the unremarkable ones (the trace has no SLO data of its own)."""
    wb = _bench().build_workbench(DATA)
    snap = wb.snapshot
    by_rate = sorted(snap.deployments, key=lambda d: snap.metrics[d.key].arrival_rate_rps)
    middle = by_rate[len(by_rate) // 2 : len(by_rate) // 2 + 2]
    idle, late = middle[0].key, middle[1].key
    metrics = dict(snap.metrics)
    metrics[idle] = ServingMetrics(arrival_rate_rps=0, served_rate_rps=0, queue_depth=0)
    metrics[late] = metrics[late].model_copy(update={"slo_attainment": 0.41})
    load = dict(wb.inputs.load)
    old = load[idle]
    load[idle] = LoadSeries.model_construct(
        key=idle,
        start=old.start,
        step_seconds=old.step_seconds,
        values=tuple(0.0 for _ in old.values),
    )
    snap = snap.model_copy(update={"metrics": metrics})
    inputs = GuardInputs(forecasts=wb.inputs.forecasts, load=load, recent=wb.inputs.recent)
    return snap, inputs, idle, late


def test_openb_prompt_fits_8000_tokens_and_names_what_matters(openb: Any) -> None:
    snap, inputs, idle, late = openb
    assert len(snap.nodes) == 1213
    tools = default_registry().specs()
    _, user, tokens = initial_prompt(snap, inputs, LlmLimits(), tools)
    assert tokens <= 8_000, tokens
    assert count_text(user) < tokens  # the count includes system prompt and tool schemas
    busiest = sorted(snap.deployments, key=lambda d: -snap.metrics[d.key].arrival_rate_rps)
    for d in busiest[:5]:
        assert f'"{d.key}"' in user
    assert f'"{idle}"' in user
    assert f'"{late}"' in user
    print(f"openb prompt: {tokens} tokens (o200k_base), {len(user)} chars of state")
