"""What-if on a copy of the simulator; replaying a journaled tick without the LLM;
`gpusteward why`; `openai` imported in exactly one module. (`gpusteward eval`:
test_agent_eval.py.)"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agents.llm.limits import LlmLimits
from agents.llm.planner import LlmPlanner
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.whatif.simulate import SimulatorWhatIf
from gpusteward.app.wiring_llm import agent_registry
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.core.ports import GuardInputs
from gpusteward.daemon.loop import DaemonConfig
from gpusteward.daemon.resume import history_from_journal
from gpusteward.sim.engine import Simulator
from gpusteward.testing import StaticPlanner
from gpusteward.testing.llm import ScriptedLlmServer, Step, reply, tool_calls
from runbooks.recorded import RecordedLlmClient
from tools.context import ToolContext
from tools.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
KEY = "serving/m-large"


def test_what_if_runs_on_a_copy_and_leaves_the_live_simulator_alone(policy: Any) -> None:
    sim = Simulator(load_scenario("quickstart").sim_spec())
    sim.advance_to(sim.now.replace(hour=10))
    ctx = ToolContext(
        snapshot=sim.snapshot(),
        inputs=GuardInputs(),
        policy=policy,
        whatif=SimulatorWhatIf(sim),
        horizon_seconds=1800,
    )
    before = sim.checkpoint()
    out = default_registry().call(
        "what_if",
        json.dumps({"actions": [{"kind": "scale", "deployment": KEY, "replicas": 12}]}),
        ctx,
    )
    projection = json.loads(out.text())["projection"]
    assert projection["projected_gpu_hours"] > projection["baseline_gpu_hours"]
    assert projection["horizon_seconds"] == 1800
    assert sim.checkpoint() == before  # the live simulator did not move or change


def _journal_with_llm_tick(tmp_path: Path, server: ScriptedLlmServer) -> Path:
    settings = Settings(
        journal=tmp_path / "j.db",
        llm_base_url=server.base_url,
        llm_retries=0,
        llm_timeout_seconds=2.0,
    )
    sim = build_sim_run(load_scenario("quickstart"), settings, fresh=True)
    asyncio.run(sim.daemon.tick())
    sim.journal.close()
    return tmp_path / "j.db"


SCRIPT: list[Step] = [
    tool_calls(("model_metrics", {"deployment": KEY})),
    tool_calls(
        (
            "propose_scale",
            {"deployment": KEY, "replicas": 5, "rationale": "queue building; 5 replicas cover p90"},
        )
    ),
    reply("done"),
]


def test_a_journaled_tick_replays_without_the_llm(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer], policy: Any
) -> None:
    from gpusteward.adapters.journal import SqliteJournal

    path = _journal_with_llm_tick(tmp_path, serve(SCRIPT))
    with SqliteJournal(path) as j:
        (record,) = j.tail(1)
        history = history_from_journal(j, DaemonConfig(interval_seconds=60.0))
    assert record.llm is not None and record.snapshot is not None
    replay = RecordedLlmClient()
    replay.load(record.llm)
    planner = LlmPlanner(
        client=replay,
        fallback=StaticPlanner(),
        policy=policy,
        limits=LlmLimits(max_rounds=8),
        registry=agent_registry(),  # the tools the daemon offered when it recorded
    )
    inputs = GuardInputs(
        forecasts={f.key: f for f in record.forecasts},
        load={k: history.series(k) for k in history.tracked()},
    )
    proposals = planner.plan_with_inputs(record.snapshot, inputs)
    trace = planner.take_llm_trace()
    assert trace is not None and trace.outcome == "proposed", trace and trace.fallback_reason
    assert [p.action for p in proposals] == [p.action for p in record.proposals]
    assert replay.calls == len(record.llm.rounds) and not replay.violations


def test_why_prints_rationale_evidence_and_verdict(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer]
) -> None:
    path = _journal_with_llm_tick(tmp_path, serve(SCRIPT))
    from gpusteward.adapters.journal import SqliteJournal

    with SqliteJournal(path) as j:
        action_id = j.tail(1)[0].proposals[0].action.id
    result = CliRunner().invoke(app, ["why", action_id[:14], "--journal", str(path)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "queue building; 5 replicas cover p90" in text
    assert "arrival_rate" in text and "verdict: allow" in text
    assert re.search(r"result: applied", text)
    assert "round(s)" in text and "outcome proposed" in text
    missing = CliRunner().invoke(app, ["why", "scale-nope", "--journal", str(path)])
    assert isinstance(missing.exception, InputError)  # main() turns it into exit code 2
    assert "no proposal with that id" in str(missing.exception)


def test_openai_is_imported_in_exactly_one_module() -> None:
    pattern = re.compile(r"^\s*(import openai|from openai\b)", re.M)
    found = [
        str(p.relative_to(ROOT))
        for folder in ("gpusteward", "agents", "tools", "policies", "forecasting", "runbooks")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert found == ["gpusteward/adapters/openai_llm.py"]
