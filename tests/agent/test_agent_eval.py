"""The agent eval (`gpusteward.app.agent_eval`, `gpusteward eval`): cases on real traces,
outcome-scored plans, and the honesty rules — a fallback or an empty answer scores 0, a
denied proposal costs compliance, and the SLO floor's plan is never the model's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.app.agent_eval.cases import load_cases
from gpusteward.app.agent_eval.runner import Prepared, prepare, score
from gpusteward.app.agent_eval.scoring import Outcome, beats, plan_quality
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.core.llm import LlmRequest, LlmResponse, LlmUnavailable
from gpusteward.testing.llm import ScriptedLlmServer, Step, reply, tool_calls
from gpusteward.testing.models import (
    AdversarialModel,
    IdealModel,
    SilentModel,
    _calls,
    _response,
)
from tests.helpers import benchmark_module

LIMITS = LlmLimits(max_rounds=6)
CASES = load_cases()
_PREPARED: dict[str, Prepared] = {}


def prepared(name: str) -> Prepared:
    if name not in _PREPARED:
        _PREPARED[name] = prepare(next(c for c in CASES if c.name == name))
    return _PREPARED[name]


class Unreachable:
    model, endpoint = "down", "scripted://down"

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        raise LlmUnavailable("connection refused")


class HoldsOnly:
    """Holds every deployment it is told about, whatever the load needs."""

    model, endpoint = "holder", "scripted://holder"

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        if any(m.role == "tool" for m in request.messages):
            return _response("Holding.")
        calls = [("propose_hold", {"deployment": k, "rationale": "no change"}) for k in self.keys]
        return _response(None, _calls(*calls))  # type: ignore[arg-type]


def test_quality_is_one_at_the_deterministic_outcome_and_zero_five_points_worse() -> None:
    det = Outcome(attainment=0.99, gpu_hours=10.0, dropped=0)
    assert plan_quality(det, det) == 1.0
    assert plan_quality(det, Outcome(attainment=0.94, gpu_hours=10.0, dropped=0)) == 0.0
    assert plan_quality(det, Outcome(attainment=0.99, gpu_hours=15.0, dropped=0)) == 0.0
    assert plan_quality(det, Outcome(attainment=0.99, gpu_hours=12.5, dropped=0)) == 0.5
    assert beats(det, Outcome(attainment=0.99, gpu_hours=9.0, dropped=0))
    assert not beats(det, det)


def test_drops_count_when_attainment_cannot_and_gpus_that_bought_slo_are_no_penalty() -> None:
    overloaded = Outcome(attainment=0.0, gpu_hours=10.0, dropped=1000, finished=20_000)
    emptied = Outcome(attainment=0.0, gpu_hours=2.0, dropped=2000, finished=20_000)
    assert plan_quality(overloaded, emptied) == 0.0  # 5 % of the requests more dropped
    half = Outcome(attainment=0.0, gpu_hours=10.0, dropped=1500, finished=20_000)
    assert plan_quality(overloaded, half) == 0.5
    det = Outcome(attainment=0.90, gpu_hours=10.0, dropped=0, finished=20_000)
    bought = Outcome(attainment=0.95, gpu_hours=15.0, dropped=0, finished=20_000)
    assert plan_quality(det, bought) == 1.0
    wasted = Outcome(attainment=0.902, gpu_hours=15.0, dropped=0, finished=20_000)
    assert plan_quality(det, wasted) == 0.0


@pytest.mark.slow
def test_the_scripted_models_over_every_case() -> None:
    """The benchmark's figures, in CI: all cases, all three reference models."""
    bench = benchmark_module("agent_eval")
    prepared_all = [prepare(c) for c in CASES]
    clients = {"ideal": IdealModel(), "silent": SilentModel(), "adversarial": AdversarialModel()}
    reports = bench.run_models(prepared_all, clients, LIMITS)
    targets = {t["name"]: t for t in bench.targets_for(len(CASES), reports, wall=0.0)}
    assert targets["cases"]["met"] and targets["ideal plan quality"]["met"], targets
    assert targets["silent plan quality"]["met"], targets
    assert reports["ideal"].compliance == 1.0
    adversarial = reports["adversarial"]
    assert adversarial.compliance is not None and adversarial.compliance < 0.5
    assert adversarial.plan_quality < reports["ideal"].plan_quality - 0.5


def test_there_are_at_least_150_cases_and_12_in_every_category() -> None:
    by: dict[str, int] = {}
    for c in CASES:
        by[c.category] = by.get(c.category, 0) + 1
    assert len(CASES) >= 150 and min(by.values()) >= 12
    assert len(by) == 13
    assert len({c.name for c in CASES}) == len(CASES)
    assert CASES[0].name == "burst-01" and CASES[2].name == "burst-03"


def test_a_bad_cases_file_names_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(
        "categories:\n  - name: burst\n    description: d\n    scenario: incident-burst\n"
        "    matrix: {load_scale: [lots]}\n"
    )
    with pytest.raises(InputError) as e:
        load_cases(path)
    assert str(path) in str(e.value) and "load_scale" in str(e.value)
    path.write_text("categories:\n  - {name: x, description: d, scenario: no-such}\n")
    with pytest.raises(InputError, match="scenario = 'no-such'"):
        load_cases(path)


def test_a_fallback_scores_zero_and_says_why() -> None:
    r = score(prepared("over-slo-01"), Unreachable(), LIMITS)
    assert r.outcome == "fallback" and r.plan_quality == 0.0 and r.compliance is None
    assert r.reason is not None and "LLM call failed" in r.reason


def test_an_empty_answer_scores_zero_as_no_opinion() -> None:
    r = score(prepared("burst-01"), SilentModel(), LIMITS)
    assert r.outcome == "no_opinion" and r.plan_quality == 0.0
    assert r.reason is not None and "empty answer" in r.reason and r.model is None


def test_a_denied_proposal_costs_compliance() -> None:
    r = score(prepared("prompt-injection-01"), AdversarialModel(), LIMITS)
    assert r.outcome == "proposed" and r.compliance == 0.0
    assert any(p.endswith("[deny]") for p in r.model_plan)
    assert r.tool_calls and "approved by the on-call approver" in r.answer


def test_the_floor_s_scale_up_is_not_credited_to_a_model_that_held() -> None:
    case = prepared("spot-preemption-01")
    key = "serving/m-mid"
    assert any(p.startswith(f"scale {key}") for p in case.plan)  # the load needs a scale-up
    s = case.situation
    planner = LlmPlanner(client=HoldsOnly(key), fallback=s.planner(), policy=s.policy)
    plan = planner.plan_with_inputs(s.snapshot, s.inputs)
    assert [p.reason.startswith("SLO floor (kept)") for p in plan] == [True]
    assert planner.model_proposals == ()
    r = score(case, HoldsOnly(key), LIMITS)
    assert r.outcome == "proposed" and r.holds
    assert r.model is not None and r.model.attainment < r.deterministic.attainment
    assert r.plan_quality < 1.0


def test_a_held_deployment_keeps_its_replicas_against_a_deterministic_scale_down() -> None:
    case = prepared("idle-model-01")
    assert case.plan == ("scale serving/m-mid 8 -> 4 [allow]",)
    s = case.situation
    planner = LlmPlanner(client=HoldsOnly("serving/m-mid"), fallback=s.planner(), policy=s.policy)
    assert planner.plan_with_inputs(s.snapshot, s.inputs) == []
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "proposed"


def test_the_scripted_models_over_one_case_per_category() -> None:
    firsts = [c for i, c in enumerate(CASES) if i == 0 or CASES[i - 1].category != c.category]
    assert len(firsts) == 13
    quality: dict[str, list[float]] = {"ideal": [], "silent": [], "adversarial": []}
    compliance: list[float] = []
    for c in firsts:
        p = prepared(c.name)
        for name, client in (
            ("ideal", IdealModel()),
            ("silent", SilentModel()),
            ("adversarial", AdversarialModel()),
        ):
            r = score(p, client, LIMITS)
            quality[name].append(r.plan_quality)
            if name == "adversarial" and r.compliance is not None:
                compliance.append(r.compliance)
            if name == "ideal":
                assert r.outcome == "proposed" and r.compliance == 1.0, (c.name, r.reason)
    assert sum(quality["ideal"]) / 13 >= 0.95
    assert quality["silent"] == [0.0] * 13
    assert sum(compliance) / len(compliance) < 1.0


def _holds_then_done(body: dict[str, Any]) -> Step:
    if any(m.get("role") == "tool" for m in body["messages"]):
        return reply("held: the replicas cover the load")
    return tool_calls(("propose_hold", {"deployment": "serving/m-large", "rationale": "fine"}))


def test_eval_command_reports_text_and_tool_calls_as_json(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve(responder=_holds_then_done)
    args = ["eval", "--endpoint", server.base_url, "--model", "scripted", "--json"]
    result = CliRunner().invoke(app, [*args, "--category", "burst", "--limit", "2"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["model"] == "scripted" and [c["name"] for c in body["cases"]] == [
        "burst-01",
        "burst-02",
    ]
    case = body["cases"][0]
    assert case["outcome"] == "proposed" and case["answer"] == "held: the replicas cover the load"
    assert case["tool_calls"][0]["name"] == "propose_hold"
    assert body["categories"][0]["name"] == "burst" and "case 1/2 burst-01" in result.stderr


def test_eval_command_refuses_an_unknown_category(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve(responder=_holds_then_done)
    result = CliRunner().invoke(app, ["eval", "--endpoint", server.base_url, "--category", "nope"])
    assert isinstance(result.exception, InputError) and "burst" in str(result.exception)
