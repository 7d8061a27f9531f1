"""benchmarks/checkpoint.py: both schema versions are measured on the memory a real run
left, and its correctness target compares what each reads back, not what each wrote."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import benchmark_module


def test_both_versions_read_back_the_planners_memory_and_version_2_is_smaller(
    tmp_path: Path,
) -> None:
    found = benchmark_module("checkpoint").measure("quickstart", 0.05, tmp_path / "j.db")
    assert found["ticks"] == 72
    assert found["same_memory"] is True
    assert found["v2"]["bytes"] < found["v1"]["bytes"]
