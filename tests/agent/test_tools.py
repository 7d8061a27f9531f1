"""Typed tools: OpenAI-format schemas, typed errors instead of exceptions, and proposal
verdicts identical to what the guard decides for the same batch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpusteward.core.actions import UnmergeAdapters
from gpusteward.core.ports import GuardInputs
from gpusteward.testing import make_deployment, make_snapshot
from tools.base import ToolError
from tools.context import ToolContext
from tools.registry import default_registry

REGISTRY = default_registry()


def _ctx(policy: Any, **kw: Any) -> ToolContext:
    return ToolContext(snapshot=make_snapshot(), inputs=GuardInputs(), policy=policy, **kw)


def test_every_tool_exports_an_openai_function_schema_without_refs() -> None:
    tools = REGISTRY.openai_tools()
    assert {t["function"]["name"] for t in tools} == set(REGISTRY.names)  # type: ignore[index]
    assert len(tools) == 19  # with propose_hold, propose_schedule and propose_(un)merge_adapters
    for t in tools:
        assert t["type"] == "function"
        params = t["function"]["parameters"]  # type: ignore[index]
        assert params["type"] == "object" and params["additionalProperties"] is False
    assert "$ref" not in json.dumps(tools) and "$defs" not in json.dumps(tools)


@pytest.mark.parametrize(
    ("name", "args", "error", "field", "allowed"),
    [
        (
            "propose_scale",
            '{"deployment": "default/llm-chat", "replicas": 3,,',
            "invalid_json",
            None,
            None,
        ),
        (
            "propose_scale",
            '{"deployment": "default/llm-chat", "replicas": -1, "rationale": "x"}',
            "invalid_arguments",
            "replicas",
            None,
        ),
        (
            "propose_move",
            '{"deployment": "default/llm-chat", "to_pool": "moon", "rationale": "x"}',
            "invalid_arguments",
            "to_pool",
            "spot",
        ),
        (
            "propose_scale",
            '{"deployment": "default/llm-chat", "replicas": 2, "rationale": "x", "approved": true}',
            "invalid_arguments",
            "approved",
            "replicas",
        ),
        (
            "propose_scale",
            '{"deployment": "default/llm-chta", "replicas": 2, "rationale": "x"}',
            "invalid_arguments",
            "deployment",
            "default/llm-chat",
        ),
        ("approve", "{}", "unknown_tool", "name", "propose_scale"),
    ],
)
def test_bad_calls_come_back_as_typed_errors_naming_field_and_allowed_values(
    policy: Any, name: str, args: str, error: str, field: str | None, allowed: str | None
) -> None:
    outcome = REGISTRY.call(name, args, _ctx(policy))
    assert isinstance(outcome.result, ToolError)
    assert outcome.result.error == error
    if field is not None:
        problem = next(p for p in outcome.result.fields if p.field.startswith(field))
        if allowed is not None:
            assert any(allowed in a for a in problem.allowed), problem
    json.loads(outcome.text())  # what the model gets is JSON, never a traceback


def test_proposal_verdicts_equal_the_guards_verdicts_for_the_batch(policy: Any) -> None:
    ctx = _ctx(policy)
    calls = [
        ("propose_scale", {"deployment": "default/llm-chat", "replicas": 4}),
        ("propose_scale", {"deployment": "default/sdxl", "replicas": 0}),
        ("propose_cordon", {"node": "gpu-node-0"}),
        ("propose_retire", {"deployment": "default/sdxl"}),
        ("propose_prewarm", {"deployment": "default/llm-chat", "count": 40}),
    ]
    said = []
    for name, args in calls:
        out = REGISTRY.call(name, json.dumps({**args, "rationale": "test"}), ctx)
        assert not isinstance(out.result, ToolError), out.text()
        said.append(out.result.decision)  # type: ignore[union-attr]
    guard = policy.evaluate(ctx.proposals, ctx.snapshot, ctx.inputs)
    assert said == [v.decision for v in guard]
    assert len(set(said)) >= 2  # the batch exercises more than one outcome


def test_a_second_proposal_for_the_same_target_and_kind_is_refused(policy: Any) -> None:
    ctx = _ctx(policy)
    args = json.dumps({"deployment": "default/llm-chat", "replicas": 3, "rationale": "x"})
    REGISTRY.call("propose_scale", args, ctx)
    second = REGISTRY.call("propose_scale", args, ctx)
    assert isinstance(second.result, ToolError) and second.result.error == "unavailable"
    assert len(ctx.proposals) == 1


def test_the_per_tick_proposal_limit_holds(policy: Any) -> None:
    ctx = _ctx(policy, max_proposals=1)
    REGISTRY.call(
        "propose_scale",
        json.dumps({"deployment": "default/llm-chat", "replicas": 3, "rationale": "x"}),
        ctx,
    )
    out = REGISTRY.call(
        "propose_scale",
        json.dumps({"deployment": "default/sdxl", "replicas": 2, "rationale": "x"}),
        ctx,
    )
    assert isinstance(out.result, ToolError) and len(ctx.proposals) == 1


def test_read_tools_answer_and_what_if_without_a_simulator_is_a_typed_error(policy: Any) -> None:
    ctx = _ctx(policy)
    for name, args in [
        ("cluster_summary", {}),
        ("model_metrics", {"deployment": "default/llm-chat"}),
        ("idle_models", {}),
        ("pool_fragmentation", {}),
        ("recent_actions", {}),
        ("recommendation", {}),
        ("forecasts", {"deployments": ["default/llm-chat"]}),
    ]:
        out = REGISTRY.call(name, json.dumps(args), ctx)
        assert not isinstance(out.result, ToolError), (name, out.text())
    out = REGISTRY.call(
        "what_if",
        json.dumps(
            {"actions": [{"kind": "scale", "deployment": "default/llm-chat", "replicas": 3}]}
        ),
        ctx,
    )
    assert isinstance(out.result, ToolError) and out.result.error == "unavailable"


def test_an_unmerge_names_merged_fine_tunes_and_gets_the_guards_verdict(policy: Any) -> None:
    runtime = make_deployment("assist", namespace="default", model="assist-8b", replicas=3)
    merged = make_deployment(
        "ft-a", namespace="default", model="assist-ft-a", replicas=0, routed_to="default/assist"
    )
    apart = make_deployment("ft-b", namespace="default", model="assist-ft-b", replicas=1)
    ctx = ToolContext(
        snapshot=make_snapshot(deployments=[runtime, merged, apart]),
        inputs=GuardInputs(),
        policy=policy,
    )
    refused = REGISTRY.call(
        "propose_unmerge_adapters",
        json.dumps({"sources": ["default/ft-b"], "runtime": "default/assist", "rationale": "x"}),
        ctx,
    )
    assert isinstance(refused.result, ToolError) and not ctx.proposals
    (problem,) = refused.result.fields
    assert problem.field == "sources.0" and "not merged into default/assist" in problem.problem
    assert problem.allowed == ("default/ft-a",)
    out = REGISTRY.call(
        "propose_unmerge_adapters",
        json.dumps({"sources": ["default/ft-a"], "runtime": "default/assist", "rationale": "x"}),
        ctx,
    )
    assert not isinstance(out.result, ToolError), out.text()
    (proposal,) = ctx.proposals
    assert proposal.action == UnmergeAdapters(
        base_model="assist-8b",
        sources=("default/ft-a",),
        runtime="default/assist",
        issued_at=ctx.snapshot.at,
        id=proposal.action.id,
    )
    (verdict,) = policy.evaluate(ctx.proposals, ctx.snapshot, ctx.inputs)
    assert out.result.decision == verdict.decision  # type: ignore[union-attr]
