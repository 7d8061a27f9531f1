"""The LLM planner is safe with any model: silence is no opinion, the SLO floor holds under
the model's plan, a failing endpoint trips the circuit breaker, and the agent runs as a
compiled LangGraph graph."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agents.llm.agent import AGENT_GRAPH
from agents.llm.breaker import CircuitBreaker, RecordedGate
from agents.llm.floor import apply_floor
from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.core.actions import Proposal, RetireModel, ScaleDeployment
from gpusteward.core.llm import (
    BREAKER_OPEN,
    LlmMessage,
    LlmRequest,
    LlmResponse,
    LlmToolCall,
    LlmUnavailable,
)
from gpusteward.testing import T0, StaticPlanner, make_snapshot
from gpusteward.testing.models import AdversarialModel, GarbageModel, SilentModel

KEY = "default/llm-chat"


def _scale(replicas: int, current: int = 2, planner: str = "reactive") -> Proposal:
    action = ScaleDeployment(deployment=KEY, replicas=replicas, from_replicas=current, issued_at=T0)
    return Proposal(action=action, reason=f"to {replicas}", planner=planner)


@dataclass
class Answers:
    """An in-process model that plays `steps` (a response, or an exception to raise)."""

    steps: list[LlmResponse | Exception]
    model: str = "scripted"
    endpoint: str = "scripted://answers"
    requests: list[LlmRequest] = field(default_factory=list)

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        self.requests.append(request)
        step = self.steps[min(len(self.requests) - 1, len(self.steps) - 1)]
        if isinstance(step, Exception):
            raise step
        return step


def _say(text: str | None, *calls: tuple[str, str]) -> LlmResponse:
    tool_calls = tuple(
        LlmToolCall(id=f"c{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)
    )
    return LlmResponse(message=LlmMessage(role="assistant", content=text, tool_calls=tool_calls))


def _planner(client: Any, recommended: list[Proposal], policy: Any, **kw: Any) -> LlmPlanner:
    return LlmPlanner(
        client=client,
        fallback=StaticPlanner(recommended, name="reactive"),
        policy=policy,
        limits=kw.pop("limits", LlmLimits(request_timeout_seconds=1.0)),
        **kw,
    )


# -- no opinion ------------------------------------------------------------------------


def test_an_empty_answer_keeps_the_deterministic_plan(policy: Any) -> None:
    up = _scale(4)
    planner = _planner(SilentModel(), [up], policy)
    assert planner.plan(make_snapshot(), {}) == [up]
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "no_opinion"
    assert "an empty answer" in (trace.fallback_reason or "")


def test_a_refusal_in_words_keeps_the_deterministic_plan(policy: Any) -> None:
    up = _scale(4)
    planner = _planner(Answers([_say("I cannot help with that.")]), [up], policy)
    assert planner.plan(make_snapshot(), {}) == [up]
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "no_opinion"
    assert "I cannot help with that." in (trace.fallback_reason or "")


def test_malformed_calls_past_the_limit_fall_back_to_the_deterministic_plan(policy: Any) -> None:
    up = _scale(4)
    bad = _say(None, ("propose_scale", '{"deployment": '))
    planner = _planner(Answers([bad]), [up], policy)
    assert planner.plan(make_snapshot(), {}) == [up]
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "fallback"
    assert "malformed" in (trace.fallback_reason or "")


def test_garbage_and_adversarial_models_never_replace_a_scale_up_with_less(policy: Any) -> None:
    up = _scale(4)
    for model in (GarbageModel(), AdversarialModel()):
        planner = _planner(model, [up], policy)
        for _ in range(6):
            plan = planner.plan(make_snapshot(), {})
            targets = [p.action.replicas for p in plan if isinstance(p.action, ScaleDeployment)]
            assert not any(
                isinstance(p.action, RetireModel) for p in plan if p.action.target == KEY
            )
            assert targets and max(targets) >= 4, (model.model, [p.action.describe() for p in plan])


# -- the SLO floor ---------------------------------------------------------------------


def test_a_model_scale_up_smaller_than_the_recommendation_is_raised_to_it() -> None:
    snapshot = make_snapshot()
    out = apply_floor(snapshot, [_scale(3, planner="llm")], [_scale(5)])
    assert [p.action.describe() for p in out.proposals] == [f"scale {KEY} 2 -> 5"]
    assert out.proposals[0].reason.startswith("SLO floor")
    assert any("dropped" in n for n in out.notes) and any("kept" in n for n in out.notes)


def test_a_model_plan_that_covers_the_demand_is_kept_as_it_is() -> None:
    mine = _scale(6, planner="llm")
    out = apply_floor(make_snapshot(), [mine], [_scale(5)])
    assert out.proposals == [mine] and out.notes == ()


def test_a_model_scale_down_below_the_live_load_is_dropped() -> None:
    snapshot = make_snapshot(load=0.9)  # 2 replicas at 90 %: both are needed
    out = apply_floor(snapshot, [_scale(1, planner="llm")], [])
    assert out.proposals == []
    assert "needs at least 2" in out.notes[0]


def test_a_model_scale_down_the_load_allows_is_kept() -> None:
    snapshot = make_snapshot(load=0.2)  # 2 replicas at 20 %: one is enough
    mine = _scale(1, planner="llm")
    assert apply_floor(snapshot, [mine], []).proposals == [mine]


# -- the circuit breaker -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_breaker_opens_after_repeated_failures_and_probes_with_a_growing_backoff() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=2, backoff_seconds=100, max_backoff_seconds=300, monotonic=clock)
    assert b.refuse() is None
    b.record(ok=False, reason="timeout")
    assert b.refuse() is None and b.state == "closed"
    b.record(ok=False, reason="timeout")
    refusal = b.refuse()
    assert refusal is not None and refusal.startswith(BREAKER_OPEN) and "timeout" in refusal
    clock.t = 99
    assert b.refuse() is not None
    clock.t = 100
    assert b.refuse() is None and b.state == "probing"  # one probe
    b.record(ok=False, reason="timeout")
    clock.t = 299
    assert b.refuse() is not None  # the back-off doubled: 200 s
    clock.t = 300
    assert b.refuse() is None
    b.record(ok=True)
    assert b.state == "closed" and b.refuse() is None


def test_an_open_breaker_does_not_call_the_model_and_says_why(policy: Any) -> None:
    clock = Clock()
    model = Answers([LlmUnavailable("no answer within 1.0 s")])
    up = _scale(4)
    planner = _planner(model, [up], policy, monotonic=clock)
    for _ in range(2):
        assert planner.plan(make_snapshot(), {}) == [up]
    calls = len(model.requests)
    assert planner.plan(make_snapshot(), {}) == [up]
    assert len(model.requests) == calls  # not called while open
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "fallback" and not trace.rounds
    assert (trace.fallback_reason or "").startswith(BREAKER_OPEN)
    clock.t = planner.limits.breaker_backoff_seconds
    planner.plan(make_snapshot(), {})
    assert len(model.requests) == calls + 1  # the probe


def test_replay_opens_the_gate_exactly_where_the_record_shows_it_open(policy: Any) -> None:
    clock = Clock()
    planner = _planner(Answers([LlmUnavailable("down")]), [], policy, monotonic=clock)
    traces = []
    for _ in range(4):
        planner.plan(make_snapshot(at=T0 + timedelta(minutes=len(traces))), {})
        traces.append(planner.take_llm_trace())
    gate = RecordedGate()
    opened = []
    for trace in traces:
        gate.load(trace)
        opened.append(gate.refuse() is not None)
    assert opened == [False, False, True, True]


def test_a_failure_that_is_the_models_fault_does_not_trip_the_breaker(policy: Any) -> None:
    bad = _say(None, ("no_such_tool", "{}"), ("no_such_tool", "{}"), ("no_such_tool", "{}"))
    model = Answers([bad])
    planner = _planner(model, [], policy)
    for _ in range(4):
        planner.plan(make_snapshot(), {})
    assert len(model.requests) == 4  # the endpoint answers: keep asking


# -- the graph ---------------------------------------------------------------------------


def test_the_agent_is_a_compiled_langgraph_graph_with_a_model_and_a_tool_node() -> None:
    from langgraph.graph.state import CompiledStateGraph

    assert isinstance(AGENT_GRAPH, CompiledStateGraph)
    assert {"model", "tools"} <= set(AGENT_GRAPH.get_graph().nodes)
    assert "langgraph" in sys.modules


def test_the_model_sees_each_verdict_and_may_revise(policy: Any) -> None:
    first = _say(
        None, ("propose_scale", f'{{"deployment": "{KEY}", "replicas": 0, "rationale": "x"}}')
    )
    second = _say(
        None, ("propose_scale", f'{{"deployment": "{KEY}", "replicas": 4, "rationale": "y"}}')
    )
    model = Answers([first, second, _say("Done.")])
    planner = _planner(model, [], policy)
    plan = planner.plan(make_snapshot(load=0.9), {})
    assert len(model.requests) == 3
    verdict_text = model.requests[1].messages[-1].content or ""
    assert '"decision"' in verdict_text  # the guard's verdict went back to the model
    assert [p.action.describe() for p in plan if p.planner == "llm"][-1].endswith("-> 4")


def test_a_hung_endpoint_trips_the_breaker_after_one_short_readiness_check(
    policy: Any,
) -> None:
    import socket

    from gpusteward.adapters.openai_llm import OpenAiChatClient

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        client = OpenAiChatClient(
            base_url=f"http://127.0.0.1:{port}/v1", model="hung", api_key=None, retries=1
        )
        limits = LlmLimits(ready_timeout_seconds=0.5, request_timeout_seconds=30.0)
        up = _scale(4)
        planner = _planner(client, [up], policy, limits=limits)
        for _ in range(3):
            assert planner.plan(make_snapshot(), {}) == [up]
            trace = planner.take_llm_trace()
            assert trace is not None and not trace.rounds  # no 30 s completion was tried
            assert (trace.fallback_reason or "").startswith(BREAKER_OPEN)
        assert planner.gate.state == "open"


def test_where_the_model_plan_is_unsafe_the_deterministic_plan_for_it_stands() -> None:
    snapshot = make_snapshot(load=0.9)  # both replicas busy; the planner would scale 2 -> 3
    out = apply_floor(snapshot, [_scale(0, planner="llm")], [_scale(3)])
    assert [p.action.describe() for p in out.proposals] == [f"scale {KEY} 2 -> 3"]
    quiet = make_snapshot(load=0.2)  # the planner would scale 2 -> 1; the model says 0
    down = _scale(1)
    out = apply_floor(quiet, [_scale(0, planner="llm")], [down])
    assert [p.action for p in out.proposals] == [down.action]  # not "never scale down"
