"""Ctrl-C (SIGINT) stops a simulated run after its current tick, exit 0, with one line
saying after which tick it stopped and the command that resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gpusteward.adapters.journal import SqliteJournal
from tests.cli.conftest import small_scenario
from tests.waiting import PATIENCE, wait_for_ticks

pytestmark = pytest.mark.slow


def test_sigint_says_after_which_tick_it_stopped_and_how_to_resume(workdir: Path) -> None:
    # 10 virtual minutes per real second: the 3 days take 432 s; it is stopped after 3 ticks
    (workdir / "s.yaml").write_text(small_scenario(hours=72))
    env = {**os.environ, "GPUSTEWARD_LOG_FORMAT": "json"}
    args = ["run", "--scenario", "s.yaml", "--fresh", "--journal", "j.db", "--speed", "600"]
    err = workdir / "err.txt"
    with (workdir / "out.txt").open("w") as out, err.open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpusteward.cli.main", *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=errors,
            text=True,
        )
    try:
        wait_for_ticks(workdir / "j.db", 3, proc=proc, output=err)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.read_text()[-3000:]
    said = [line for line in err.read_text().splitlines() if "interrupted" in line]
    assert len(said) == 1, err.read_text()[-3000:]
    with SqliteJournal(workdir / "j.db") as j:
        last = j.count() - 1
    assert f"after tick #{last}" in said[0], said
    resume = "gpusteward run --scenario s.yaml --journal j.db --speed 600"
    assert said[0].endswith(resume), said
