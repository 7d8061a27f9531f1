"""The LLM planner agent can list the runbooks and choose one; its steps are proposed and
judged by the guard like any proposal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from gpusteward.app.parts import load_policy_file
from gpusteward.app.replay_setup import SimRunbookTarget
from gpusteward.app.scenario import load_scenario
from gpusteward.app.wiring_llm import agent_registry
from gpusteward.sim.engine import Simulator
from tools.context import ToolContext


def _ctx() -> ToolContext:
    scenario = load_scenario("incident-model-sprawl")
    sim = Simulator(scenario.sim_spec())
    sim.advance_to(sim.now + timedelta(hours=1))
    target = SimRunbookTarget(sim)
    return ToolContext(
        snapshot=target.snapshot(),
        inputs=target.guard_inputs(),
        policy=load_policy_file(Path(scenario.policy)),
    )


def test_the_agent_lists_runbooks_and_proposes_one_step_by_step() -> None:
    registry = agent_registry()
    ctx = _ctx()
    listed = json.loads(registry.call("runbooks", "{}", ctx).text())
    assert {r["name"] for r in listed["runbooks"]} >= {"retire-stale-variant"}
    args = {
        "name": "retire-stale-variant",
        "parameters": {"deployment": "serving/chat-v2"},
        "rationale": "0.04 req/s for hours; v3 serves the traffic",
    }
    out = json.loads(registry.call("propose_runbook", json.dumps(args), ctx).text())
    assert [s["decision"] for s in out["steps"]] == ["allow", "needs_approval"]
    assert [p.action.kind for p in ctx.proposals] == ["scale", "retire"]


def test_a_bad_runbook_choice_comes_back_as_a_typed_error() -> None:
    registry = agent_registry()
    ctx = _ctx()
    bad = {"name": "reboot-everything", "rationale": "x"}
    out = json.loads(registry.call("propose_runbook", json.dumps(bad), ctx).text())
    assert out["ok"] is False and "retire-stale-variant" in out["fields"][0]["allowed"]
    missing = {"name": "retire-stale-variant", "parameters": {}, "rationale": "x"}
    out = json.loads(registry.call("propose_runbook", json.dumps(missing), ctx).text())
    assert out["ok"] is False and "required" in out["message"]
    assert ctx.proposals == []  # nothing proposed
