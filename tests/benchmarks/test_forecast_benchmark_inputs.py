"""benchmarks/forecast.py on a trace it was not built around: an hour of requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import azure_requests_csv

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks/forecast.py"), "--workers", "1", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_trace_too_short_for_the_test_period_is_a_clear_error(tmp_path: Path) -> None:
    trace = azure_requests_csv(tmp_path / "hour.csv", minutes=60)
    proc = _bench("--data", str(trace))
    assert proc.returncode == 2, proc.stderr
    assert str(trace) in proc.stderr and "fewer than 2 are left for training" in proc.stderr
    assert "--window 1m" in proc.stderr and "Traceback" not in proc.stderr


def test_an_hour_of_requests_is_scored_in_minute_windows(tmp_path: Path) -> None:
    trace = azure_requests_csv(tmp_path / "hour.csv", minutes=60)
    args = ["--window", "1m", "--test", "15m", "--horizons", "1m,5m,1h", "--json"]
    proc = _bench("--data", str(trace), *args)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target not met, still a result
    assert "horizon 1h left out: longer than the test" in proc.stderr
    body = json.loads(proc.stdout)
    assert {r["horizon"] for r in body["summary"]} == {"1m", "5m"}
    assert {r["series"] for r in body["summary"]} == {"hour"}
    # only the per-series target applies to a file given with --data
    assert [t["name"] for t in body["targets"]] == [
        "series x horizons where the chosen forecaster is worse than the best baseline"
    ]
