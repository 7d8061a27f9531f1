"""A daemon killed with SIGKILL leaves a clean journal, and a restart resumes without
re-executing any recorded action id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gpusteward.core.verdicts import ResultStatus
from gpusteward.journal import SqliteJournal
from tests.cli.conftest import gpusteward, small_scenario

pytestmark = pytest.mark.slow


def _start(workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GPUSTEWARD_LOG_FORMAT": "json"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpusteward.cli",
            "run",
            "--scenario",
            "s.yaml",
            "--journal",
            "j.db",
            *args,
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_ticks(path: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                with SqliteJournal(path) as j:
                    if j.count() >= n:
                        return
            except Exception:
                pass
        time.sleep(0.2)
    raise AssertionError(f"journal {path} did not reach {n} ticks in {timeout} s")


def test_sigkill_mid_run_leaves_complete_ticks_and_restart_resumes(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=24))
    # 20 virtual minutes per real second: the day takes ~72 s, we kill it after a few ticks
    proc = _start(workdir, "--speed", "1200")
    _wait_for_ticks(workdir / "j.db", 40)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with SqliteJournal(workdir / "j.db") as j:
        records = list(j.ticks())
        killed_at = len(records)
        assert [r.seq for r in records] == list(range(killed_at))
        assert all(r.snapshot is not None for r in records)
        before = {
            r.action_id for rec in records for r in rec.results if r.status == ResultStatus.APPLIED
        }
        assert before, "the reactive planner should have acted on the real trace by now"

    resumed = gpusteward(
        "run", "--scenario", "s.yaml", "--journal", "j.db", "--ticks", "30", cwd=workdir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"after tick #{killed_at - 1}" in resumed.stderr

    with SqliteJournal(workdir / "j.db") as j:
        records = list(j.ticks())
        assert [r.seq for r in records] == list(range(killed_at + 30))
        times = [r.at for r in records]
        assert times == sorted(times) and len(set(times)) == len(times)
        applied = Counter(
            r.action_id for rec in records for r in rec.results if r.status == ResultStatus.APPLIED
        )
        assert applied and max(applied.values()) == 1


def test_sigterm_finishes_the_tick_and_exits_0(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=24))
    proc = _start(workdir, "--speed", "600")
    _wait_for_ticks(workdir / "j.db", 5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "SLO attained" in out  # the summary table is printed on the way out
    with SqliteJournal(workdir / "j.db") as j:
        assert [r.seq for r in j.ticks()] == list(range(j.count()))
