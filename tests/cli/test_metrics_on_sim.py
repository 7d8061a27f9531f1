"""GPUSTEWARD_METRICS_PORT serves the daemon's /metrics on the simulator too, not only on
Kubernetes; a simulated run holds no leader lease, so `gpusteward_leader` reads 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import small_scenario
from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for, wait_for_ticks

pytestmark = pytest.mark.slow
ARGS = ("--scenario", "s.yaml", "--journal", "j.db", "--speed", "600")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_simulated_run_serves_its_metrics_on_the_metrics_port(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(small_scenario(hours=72))  # 432 s at speed 600
    port = _free_port()
    env = {**os.environ, "GPUSTEWARD_METRICS_PORT": str(port), "GPUSTEWARD_LOG_FORMAT": "json"}
    err = workdir / "err.txt"
    with err.open("w") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpusteward.cli.main", "run", *ARGS],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
    try:
        wait_for_ticks(workdir / "j.db", 2, proc=proc, output=err)

        def scraped() -> str | None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=REQUEST_PATIENCE)
            except httpx.HTTPError:
                return None
            ticks = re.search(r"^gpusteward_ticks_total (\S+)$", r.text, re.M)
            return r.text if ticks and float(ticks.group(1)) >= 1 else None

        text = wait_for(scraped, f"/metrics on port {port} counting ticks", proc=proc, output=err)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=PATIENCE)
    assert "gpusteward_stage_seconds_count" in text
    assert re.search(r"^gpusteward_leader 0\.0$", text, re.M), "no lease is held"
