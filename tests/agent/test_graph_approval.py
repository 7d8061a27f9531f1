"""The one-tick LangGraph graph: allowed actions run at once; an action that needs a human
parks the thread in `interrupt()` (SQLite checkpointer) until the approval gate says yes,
and is resumed by approval id — also from a new process; the LLM cannot approve."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from agents.llm.graph import AgentTickRunner, TickContext, build_tick_graph
from forecasting.baselines import LastValueForecaster
from gpusteward.approvals import InMemoryApprovalGate
from gpusteward.core.clock import VirtualClock
from gpusteward.core.load import LoadHistory
from gpusteward.core.verdicts import ResultStatus
from gpusteward.testing import (
    T0,
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    make_snapshot,
)
from gpusteward.testing_llm import ScriptedLlmServer, reply, tool_calls
from tests.agent.conftest import llm_planner

SCRIPT = [
    tool_calls(
        (
            "propose_scale",
            {
                "deployment": "default/llm-chat",
                "replicas": 3,
                "rationale": "utilisation 60 % and rising",
            },
        ),
        ("propose_cordon", {"node": "gpu-node-1", "rationale": "drain for maintenance"}),
    ),
    reply("One scale-up now; the cordon needs a human."),
]


def _context(
    server: ScriptedLlmServer,
    policy: Any,
    gate: InMemoryApprovalGate,
    journal: InMemoryJournal,
    executor: RecordingExecutor,
) -> TickContext:
    return TickContext(
        source=FakeClusterSource(make_snapshot()),
        forecaster=LastValueForecaster(),
        planner=llm_planner(server, policy),
        policy=policy,
        approvals=gate,
        executor=executor,
        journal=journal,
        clock=VirtualClock(T0),
        history=LoadHistory(60.0, 100),
    )


def _saver(path: Path) -> SqliteSaver:
    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def test_graph_has_the_tick_nodes() -> None:
    nodes = set(build_tick_graph().nodes)
    assert {"observe", "forecast", "plan", "guard", "await_approval", "act", "record"} <= nodes


def test_allowed_runs_now_approval_waits_for_the_gate_and_resumes_by_id(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer], policy: Any
) -> None:
    gate, journal, executor = InMemoryApprovalGate(), InMemoryJournal(), RecordingExecutor()
    ctx = _context(serve(SCRIPT), policy, gate, journal, executor)
    runner = AgentTickRunner(ctx, _saver(tmp_path / "graph.db"))

    outcome = runner.tick()
    assert [a.kind for a in executor.executed] == ["scale"]  # the safe one did not wait
    (approval_id,) = outcome.waiting_for
    assert runner.waiting() == {approval_id: outcome.thread_id}
    (tick,) = journal.tail(1)
    assert tick.llm is not None and [a.id for a in tick.approvals] == [approval_id]

    assert runner.resume(approval_id) is None  # no human said yes: nothing runs
    assert len(executor.executed) == 1

    # a new process: fresh runner, same SQLite checkpoint file
    gate.decide(approval_id, approve=True, by="alice", now=T0)
    again = AgentTickRunner(ctx, _saver(tmp_path / "graph.db"))
    resumed = again.resume(approval_id)
    assert resumed is not None
    assert [r.status for r in resumed.results] == [ResultStatus.APPLIED]
    assert [a.kind for a in executor.executed] == ["scale", "cordon"]
    assert again.waiting() == {}
    assert journal.tail(1)[0].planner == "approval"


def test_a_rejected_request_never_runs_and_the_wait_can_be_closed(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer], policy: Any
) -> None:
    gate, journal, executor = InMemoryApprovalGate(), InMemoryJournal(), RecordingExecutor()
    runner = AgentTickRunner(
        _context(serve(SCRIPT), policy, gate, journal, executor), _saver(tmp_path / "graph.db")
    )
    (approval_id,) = runner.tick().waiting_for
    gate.decide(approval_id, approve=False, by="bob", now=T0)
    assert runner.resume(approval_id) is None
    runner.close_expired([approval_id])
    assert runner.waiting() == {}
    assert [a.kind for a in executor.executed] == ["scale"]
