"""A 2-day run of the LLM planner agent against the scripted OpenAI-compatible server,
recorded once per test session into a journal and exported as an incident bundle. The
server is stopped before any test replays it."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from forecasting.auto import LastValueConfig
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.cli.main import app
from gpusteward.testing.llm import ScriptedLlmServer, Step, reply, tool_calls

KEY = "serving/m-large"
SCENARIO = "agent-2d.yaml"


def scripted_agent(body: dict[str, Any]) -> Step:
    """A deterministic 'model': reads the recommendation and the metrics, checks the
    recommended scale with a what-if, then proposes it (or says there is nothing to do)."""
    results = [m for m in body["messages"] if m.get("role") == "tool"]
    if not results:
        return tool_calls(("recommendation", {}), ("model_metrics", {"deployment": KEY}))
    target = None
    for p in json.loads(results[0]["content"]).get("proposals", []):
        m = re.search(r"-> (\d+)", p["action"])
        if m and p["kind"] == "scale":
            target = int(m.group(1))
    if target is None or len(results) > 3:
        return reply("nothing to do")
    if len(results) == 2:
        change = {"kind": "scale", "deployment": KEY, "replicas": target}
        return tool_calls(("what_if", {"actions": [change], "horizon_minutes": 30}))
    return tool_calls(
        (
            "propose_scale",
            {"deployment": KEY, "replicas": target, "rationale": "recommended; what-if agrees"},
        )
    )


@dataclass(frozen=True)
class Recording:
    journal: Path
    scenario: Path
    bundle: Path
    llm_requests: int
    ticks: int


def write_agent_scenario(folder: Path) -> Path:
    """quickstart for 2 days at 10-minute ticks (60 s simulator steps), last-value forecasts."""
    base = load_scenario("quickstart")
    scenario = base.model_copy(
        update={
            "name": "agent-2d",
            "duration": "2d",
            "tick_seconds": 600,
            "sim_step_seconds": 60,
            "forecaster": LastValueConfig(),
        }
    )
    path = folder / SCENARIO
    path.write_text(scenario.model_dump_json(), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    folder = tmp_path_factory.mktemp("agent-2d")
    scenario_path = write_agent_scenario(folder)
    scenario = load_scenario(str(scenario_path))
    with ScriptedLlmServer(responder=scripted_agent) as server:
        settings = Settings(
            journal=folder / "agent.db",
            llm_base_url=server.base_url,
            llm_retries=0,
            llm_timeout_seconds=10.0,
        )
        run = build_sim_run(scenario, settings, fresh=True)
        asyncio.run(run.daemon.run(tick_first=True))
        ticks = run.journal.count()
        run.journal.close()
        assert run.approvals is not None
        run.approvals.close()
        requests = len(server.requests)
    bundle = folder / "agent-2d.bundle"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--journal",
            str(folder / "agent.db"),
            "--scenario",
            str(scenario_path),
            "-o",
            str(bundle),
        ],
    )
    assert result.exit_code == 0, result.output
    return Recording(folder / "agent.db", scenario_path, bundle, requests, ticks)
