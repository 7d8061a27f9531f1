"""`gpusteward diagnose`: a scenario run with the diagnostics on, or a journal's recorded
warnings; `--why` explains one; bad input is named with its fix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.cli.main import app


def test_a_red_flag_scenario_lists_its_warnings_and_its_ground_truth() -> None:
    result = CliRunner().invoke(app, ["diagnose", "redflag-batch-misfit", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    flags = {w["flag"] for w in body["warnings"]}
    assert "low-utilisation" in flags
    (line,) = body["ground_truth"]
    assert line.startswith("ground truth: low-utilisation from minute 120: detected at minute")


def test_why_explains_one_warning_of_a_run() -> None:
    listed = CliRunner().invoke(app, ["diagnose", "redflag-spot-wave", "--json"])
    wave = next(
        w["id"] for w in json.loads(listed.stdout)["warnings"] if w["opened_at"] >= "2026-11-04T03"
    )
    why = CliRunner().invoke(app, ["diagnose", "redflag-spot-wave", "--why", wave])
    assert why.exit_code == 0, why.output
    assert "likely cause:" in why.stdout and wave.split(":")[0] in why.stdout


def test_a_journal_s_recorded_warnings_are_read_back(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    run = build_sim_run(
        load_scenario("redflag-spot-wave"), Settings(journal=journal), fresh=True, max_ticks=190
    )
    asyncio.run(run.daemon.run())
    run.journal.close()
    result = CliRunner().invoke(app, ["diagnose", "--journal", str(journal), "--json"])
    assert result.exit_code == 0, result.output
    assert any(w["flag"] == "queue-growth" for w in json.loads(result.stdout)["warnings"])


def test_neither_or_both_sources_is_refused_with_the_fix(tmp_path: Path) -> None:
    neither = CliRunner().invoke(app, ["diagnose"])  # main() prints these; here they raise
    assert "Fix: `gpusteward diagnose redflag-burst`" in str(neither.exception)
    missing = CliRunner().invoke(app, ["diagnose", "--journal", str(tmp_path / "none.db")])
    assert "no journal there" in str(missing.exception)
