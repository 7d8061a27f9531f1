"""A daemon killed with SIGKILL leaves a clean journal, and a restart resumes without
re-executing any recorded action id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.verdicts import ResultStatus
from tests.cli.conftest import gpusteward, small_scenario
from tests.waiting import PATIENCE, wait_for_ticks

pytestmark = pytest.mark.slow


@contextmanager
def _running(workdir: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`gpusteward run` in the background, killed on the way out if still running; stdout
    and stderr go to files in `workdir` (a pipe nobody reads stops the daemon when full)."""
    env = {**os.environ, "GPUSTEWARD_LOG_FORMAT": "json"}
    with (workdir / "out.txt").open("w") as out, (workdir / "err.txt").open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpusteward.cli.main",
                "run",
                "--scenario",
                "s.yaml",
                "--journal",
                "j.db",
                *args,
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=err,
            text=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_mid_run_leaves_complete_ticks_and_restart_resumes(workdir: Path) -> None:
    # 20 virtual minutes per real second: the 3 days take 216 s, we kill it after 40 ticks
    (workdir / "s.yaml").write_text(small_scenario(hours=72))
    with _running(workdir, "--speed", "1200") as proc:
        wait_for_ticks(workdir / "j.db", 40, proc=proc, output=workdir / "err.txt")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=PATIENCE)
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
    # 10 virtual minutes per real second: the 3 days take 432 s, we stop it after 5 ticks
    (workdir / "s.yaml").write_text(small_scenario(hours=72))
    with _running(workdir, "--speed", "600") as proc:
        wait_for_ticks(workdir / "j.db", 5, proc=proc, output=workdir / "err.txt")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=PATIENCE)  # the tick in flight, the summary, then exit
    assert proc.returncode == 0, (workdir / "err.txt").read_text()[-3000:]
    assert "SLO attained" in (workdir / "out.txt").read_text()  # the summary, on the way out
    with SqliteJournal(workdir / "j.db") as j:
        assert [r.seq for r in j.ticks()] == list(range(j.count()))
