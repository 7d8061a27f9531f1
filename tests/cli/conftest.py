"""Helpers for driving the real `gpusteward` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import PATIENCE

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "gpusteward" / "scenarios" / "traces" / "servegen_m-large_total_rate_10min.csv"


def gpusteward(
    *args: str, cwd: Path, timeout: float = PATIENCE
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, run to its exit (a deadline for a loaded machine)."""
    env = {**os.environ, "GPUSTEWARD_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "gpusteward.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def small_scenario(hours: int = 2) -> str:
    """A valid scenario text: one model on the real m-large trace, `hours` long."""
    return f"""\
name: tiny
seed: 3
start: "2026-11-02T00:00:00+00:00"
duration: {hours}h
tick_seconds: 60
cluster:
  node_groups:
    - name: h100
      count: 1
      gpu_type: H100-80GB
      gpus_per_node: 8
      gpu_memory_gib: 80
      price_per_gpu_hour: 2.5
models:
  - name: m-large
    replicas: 2
    min_replicas: 1
    max_replicas: 8
    gpu_memory_gib: 70
    cold_start_seconds: 120
    slo: {{queue_delay_seconds: 2.0}}
    profile:
      throughput_rps: {{H100-80GB: 1.6}}
    trace:
      file: {TRACE}
      scale: 0.02
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
