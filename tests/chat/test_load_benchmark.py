"""The approval load benchmark, small: concurrent clients still decide each request once."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_concurrent_clients_decide_every_request_exactly_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_approvals_load", ROOT / "benchmarks" / "approvals_load.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    assert bench.main(["--clients", "12", "--pending", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["attempts"] == 12 * 30 and result["decided_exactly_once"] == 30
    assert {t["name"]: t["met"] for t in result["targets"]} == {
        t["name"]: True for t in result["targets"]
    }
