"""`gpusteward run`, `status` and `journal` on a short simulated scenario."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import gpusteward, small_scenario
from tests.waiting import PATIENCE


def test_run_prints_the_summary_table_and_writes_the_journal(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    proc = gpusteward("run", "--scenario", "s.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    for column in ("GPU-hours", "cost (USD)", "SLO attained", "p95 queue delay"):
        assert column in proc.stdout
    assert "serving/m-large" in proc.stdout and "120 ticks" in proc.stdout
    assert (workdir / ".gpusteward" / "tiny.db").exists()


def test_once_runs_a_single_tick(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    proc = gpusteward("run", "--scenario", "s.yaml", "--once", "--journal", "j.db", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "(1 ticks)" in proc.stdout


def test_rerunning_a_complete_journal_reports_it_and_fresh_starts_over(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    assert gpusteward("run", "--scenario", "s.yaml", cwd=workdir).returncode == 0
    again = gpusteward("run", "--scenario", "s.yaml", cwd=workdir)
    assert again.returncode == 0 and "already complete" in again.stderr
    fresh = gpusteward("run", "--scenario", "s.yaml", "--fresh", cwd=workdir)
    assert fresh.returncode == 0 and "already complete" not in fresh.stderr
    assert "(60 ticks)" in fresh.stdout


def test_a_journal_of_another_scenario_is_refused_with_a_fix(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    (workdir / "t.yaml").write_text(small_scenario(hours=1).replace("seed: 3", "seed: 4"))
    assert (
        gpusteward("run", "--scenario", "s.yaml", "--journal", "j.db", cwd=workdir).returncode == 0
    )
    other = gpusteward("run", "--scenario", "t.yaml", "--journal", "j.db", cwd=workdir)
    assert other.returncode == 2 and "--fresh" in other.stderr


def test_dry_run_records_decisions_but_applies_nothing(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    proc = gpusteward("run", "--scenario", "s.yaml", "--dry-run", "--journal", "j.db", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "actions: 0 applied in total" in proc.stdout
    lines = gpusteward("journal", "--tail", "120", "--json", "--journal", "j.db", cwd=workdir)
    statuses = {
        r["status"] for line in lines.stdout.splitlines() for r in json.loads(line)["results"]
    }
    assert statuses <= {"dry_run"} and statuses


def test_status_and_journal_read_the_last_run(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=2))
    assert gpusteward("run", "--scenario", "s.yaml", cwd=workdir).returncode == 0
    status = gpusteward("status", cwd=workdir)
    assert status.returncode == 0, status.stderr
    assert "120 ticks recorded" in status.stdout and "serving/m-large" in status.stdout
    tail = gpusteward("journal", "--tail", "3", cwd=workdir)
    assert tail.returncode == 0 and len(tail.stdout.splitlines()) == 3
    record = json.loads(gpusteward("journal", "--tail", "1", "--json", cwd=workdir).stdout)
    assert record["seq"] == 119 and record["snapshot"]["deployments"]


SHADOW_POLICY = """\
name: shadow-test
rules:
  - id: every-change
    kind: cooldown
    description: any scale within an hour of the last change (shadow only)
    match: {actions: [scale]}
    seconds: 1h
    effect: deny
    mode: warn
  - id: allow-scaling
    kind: allow
    match: {actions: [scale, prewarm]}
"""


def test_shadow_rules_are_summed_up_and_logged_as_text_in_a_pipe(workdir: Path) -> None:
    # the simulator's run prints text progress lines to a pipe; its log lines must be
    # text too (not JSON among them), and the summary says what the shadow rules saw
    (workdir / "p.yaml").write_text(SHADOW_POLICY)
    (workdir / "s.yaml").write_text(small_scenario(hours=4) + "policy: p.yaml\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUSTEWARD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "gpusteward.cli.main", "run", "--scenario", "s.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "shadow rule fired" in ln]
    assert warned, proc.stderr
    assert not any(ln.lstrip().startswith("{") for ln in proc.stderr.splitlines())
    assert all("rule=every-change" in ln and "would=deny" in ln for ln in warned)
    assert "\x1b[" not in proc.stderr  # no colour codes in a pipe
    summary = next(ln for ln in proc.stdout.splitlines() if ln.startswith("shadow rules"))
    assert f"every-change would deny {len(warned)} proposal" in summary
    # `why` shows the shadow hit of one of those proposals
    records = [
        json.loads(ln)
        for ln in gpusteward("journal", "--tail", "240", "--json", cwd=workdir).stdout.splitlines()
    ]
    shadowed = [v["action_id"] for r in records for v in r["verdicts"] if v["shadow"]]
    assert len(shadowed) == len(warned)
    why = gpusteward("why", shadowed[0], cwd=workdir)
    assert why.returncode == 0, why.stderr
    assert "shadow (warn, would deny): [every-change]" in why.stdout
    # an explicit JSON format is still honoured
    env["GPUSTEWARD_LOG_FORMAT"] = "json"
    again = subprocess.run(
        [sys.executable, "-m", "gpusteward.cli.main", "run", "--scenario", "s.yaml", "--fresh"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    lines = [json.loads(ln) for ln in again.stderr.splitlines() if ln.startswith("{")]
    fired = [ln for ln in lines if ln["event"] == "shadow rule fired (not enforced)"]
    assert [ln["rule"] for ln in fired] == ["every-change"] * len(warned)


def test_no_shadow_line_when_no_shadow_rule_fired(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=1))
    proc = gpusteward("run", "--scenario", "s.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "shadow rules" not in proc.stdout
