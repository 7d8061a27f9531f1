"""Consolidation executed in the real simulator: `MoveReplica` waves free whole nodes and
no deployment ever has fewer Ready replicas, drops a request or misses its SLO."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agents.consolidation import ConsolidationPlanner
from gpusteward.core.cluster import ReplicaPhase

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_consolidation", ROOT / "benchmarks/consolidation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", range(4))
def test_executed_waves_free_most_of_the_optimum_without_a_dip(seed: int, tmp_path: Path) -> None:
    bench = _bench()
    run = bench.run_in_simulator(bench.sim_instance(seed, tmp_path))
    assert run["violations"] == []
    assert run["moves"] > 0 and run["freed"] > 0
    assert run["freed"] >= 0.8 * run["optimum"]


def test_drained_nodes_end_cordoned_and_empty_and_the_planner_then_rests(tmp_path: Path) -> None:
    bench = _bench()
    sim = bench.sim_instance(0, tmp_path)
    keys = [d.key for d in sim.snapshot().deployments]
    replicas = {k: sim.phase_counts(k)[ReplicaPhase.READY] for k in keys}
    bench.run_in_simulator(sim)
    end = sim.snapshot()
    cordoned = [n for n in end.nodes if n.cordoned]
    assert cordoned and all(g.allocated_to is None for n in cordoned for g in n.gpus)
    assert {k: sim.phase_counts(k)[ReplicaPhase.READY] for k in keys} == replicas
    assert ConsolidationPlanner().plan(end, {}) == []
