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


def _day(path: Path, rate: float | None = None) -> Path:
    """A day and a half of 10-minute rates (too short for Prophet: fast)."""
    rows = "".join(
        f"{i * 600},{rate if rate is not None else 5 + (i * 7) % 11},1\n" for i in range(216)
    )
    path.write_text("window_start_s,total_rate_rps,active_clients\n" + rows)
    return path


def test_each_data_file_is_its_own_series_and_table(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [
        _day(tmp_path / "a" / "chunk-1-trace.csv"),
        _day(tmp_path / "b" / "chunk-1-trace.csv"),  # the same name in another folder
        _day(tmp_path / "my load.csv"),  # a space used to merge it into a "clients" group
        _day(tmp_path / "zerotail_total.csv"),  # "total" used to add the ServeGen targets
        _day(tmp_path / "flat.csv", rate=5.0),  # a perfect baseline divided by zero
    ]
    proc = _bench("--data", *map(str, files), "--test", "6h", "--horizons", "1h", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    body = json.loads(proc.stdout)
    series = {r["series"] for r in body["summary"]}
    assert series == {str(files[0]), str(files[1]), "my load", "zerotail_total", "flat"}
    (target,) = body["targets"]
    assert " of 5 " in target["value"]


def test_bad_options_and_an_all_zero_trace_are_clear_errors(tmp_path: Path) -> None:
    zero = _day(tmp_path / "zero.csv", rate=0.0)
    for args, message in [
        (["--data"], "--data: no files given"),
        (["--clients", "-1"], "--clients -1: not a count"),
        (["--test-days", "nan"], "--test-days nan: not a positive number of days"),
        (["--data", str(zero), "--test", "6h"], "zero: no load above zero"),
    ]:
        proc = _bench(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
