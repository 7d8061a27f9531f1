"""End to end over HTTP: the real `openai` client talks to the scripted server; the LLM's
proposals go through the daemon's guard into the simulator; every fault mode falls back
to the deterministic planner without crashing, and the journal records why."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.llm.planner import LlmPlanner
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import SimRun, build_sim_run
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import Allow, ResultStatus
from gpusteward.testing.llm import ScriptedLlmServer, Step, fault, reply, tool_calls

KEY = "serving/m-large"


def _run(tmp_path: Path, server: ScriptedLlmServer, **llm: object) -> SimRun:
    fields: dict[str, object] = {
        "journal": tmp_path / "j.db",
        "llm_base_url": server.base_url,
        "llm_model": "scripted",
        "llm_retries": 0,
        "llm_timeout_seconds": 0.5,
        "llm_wall_seconds": 10.0,
        "llm_max_tool_rounds": 4,
    }
    settings = Settings(**{**fields, **llm})  # type: ignore[arg-type]
    return build_sim_run(load_scenario("quickstart"), settings, fresh=True)


def _tick(sim: SimRun) -> TickRecord:
    return asyncio.run(sim.daemon.tick())


def test_scripted_conversation_reaches_the_simulator_through_the_guard(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer]
) -> None:
    server = serve(
        [
            tool_calls(("cluster_summary", {}), ("forecasts", {"deployments": [KEY]})),
            tool_calls(
                (
                    "propose_scale",
                    {
                        "deployment": KEY,
                        "replicas": 6,
                        "rationale": "forecast p90 needs 6 replicas",
                    },
                )
            ),
            reply("Scaled m-large to 6 ahead of the forecast."),
        ]
    )
    sim = _run(tmp_path, server)
    assert isinstance(sim.daemon.planner, LlmPlanner)
    record = _tick(sim)
    assert [p.planner for p in record.proposals] == ["llm"]
    assert record.proposals[0].action.kind == "scale"
    assert isinstance(record.verdicts[0], Allow)
    assert [r.status for r in record.results] == [ResultStatus.APPLIED]
    state = sim.cluster.simulator._state.fleet.deployments[KEY]
    assert state.desired == 6  # the simulator got it
    assert record.llm is not None and record.llm.outcome == "proposed"
    assert len(record.llm.rounds) == 3 and not server.exhausted
    sent = server.requests[0]
    assert {t["function"]["name"] for t in sent["tools"]} >= {"propose_scale", "what_if"}
    assert sent["tool_choice"] == "auto"
    sim.journal.close()
    with SqliteJournal(tmp_path / "j.db") as j:  # the trace survives the journal round trip
        (stored,) = j.tail(1)
    assert stored.llm == record.llm


FAULTS: list[tuple[str, list[Step], str]] = [
    ("timeout", [fault("timeout")], "LlmUnavailable"),
    ("http_500", [fault("http_500")], "HTTP 500"),
    ("invalid_json_arguments", [fault("invalid_json_arguments")] * 3, "malformed"),
    ("unknown_tool", [fault("unknown_tool")] * 3, "malformed"),
    ("endless", [fault("endless")], "no final answer after 4 tool rounds"),
    ("malformed_body", [fault("malformed_body")], "LlmProtocolError"),
]


@pytest.mark.parametrize(("name", "script", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
def test_every_fault_mode_falls_back_and_records_why(
    tmp_path: Path,
    serve: Callable[..., ScriptedLlmServer],
    name: str,
    script: list[Step],
    reason: str,
) -> None:
    sim = _run(tmp_path, serve(script))
    record = _tick(sim)
    assert record.llm is not None
    assert record.llm.outcome == "fallback"
    assert record.llm.fallback_planner == "reactive"
    assert reason in (record.llm.fallback_reason or "")
    assert all(p.planner == "reactive" for p in record.proposals)
    assert not record.errors  # the tick itself did not fail
    again = _tick(sim)  # and the daemon goes on
    assert again.seq == record.seq + 1
    sim.journal.close()


def test_no_endpoint_means_the_deterministic_planner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = build_sim_run(
        load_scenario("quickstart"), Settings(journal=tmp_path / "j.db"), fresh=True
    )
    assert sim.daemon.planner.name == "reactive"
    assert _tick(sim).llm is None
    sim.journal.close()


def test_a_retry_recovers_from_one_http_500(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer]
) -> None:
    server = serve([fault("http_500"), reply("Nothing to do.")])
    sim = _run(tmp_path, server, llm_retries=1, llm_timeout_seconds=5.0)
    record = _tick(sim)
    # the model answered after the retry: words without a proposal are "no opinion"
    assert record.llm is not None and record.llm.outcome == "no_opinion"
    assert len(server.requests) == 2
    sim.journal.close()


def test_a_resumed_run_gets_its_llm_planner_back(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer]
) -> None:
    server = serve([reply("Nothing to do."), reply("Still nothing.")])
    sim = _run(tmp_path, server)
    _tick(sim)
    sim.journal.close()
    settings = Settings(journal=tmp_path / "j.db", llm_base_url=server.base_url, llm_retries=0)
    resumed = build_sim_run(load_scenario("quickstart"), settings)  # from the checkpoint
    assert resumed.resumed_at_seq == 0
    planner = resumed.daemon.planner
    assert isinstance(planner, LlmPlanner) and planner.client is not None
    assert planner.fallback.name == "reactive"
    record = _tick(resumed)
    assert record.llm is not None and record.llm.outcome == "no_opinion"
    assert record.llm.rounds and record.llm.rounds[0].response is not None
    resumed.journal.close()
