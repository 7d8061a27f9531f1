"""`gpusteward run`, `status` and `journal` on a short simulated scenario."""

import json
from pathlib import Path

from tests.cli.conftest import gpusteward, small_scenario


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
