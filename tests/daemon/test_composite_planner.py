"""A composite planner (reactive scaling + consolidation) in the daemon on the simulator:
its consolidation moves run through the guard into the simulator, free a node, and no
deployment ever has fewer Ready replicas than before."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.composite import CompositePlanner
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import ResultStatus

TRACE = (
    Path(__file__).resolve().parents[2]
    / "gpusteward/scenarios/traces/servegen_m-large_total_rate_10min.csv"
)
POLICY = """\
name: permissive-test
defaults: {unmatched: allow}
rules:
  - {id: replica-bounds, kind: replica-bounds, effect: deny}
"""


def _model(name: str, replicas: int, min_replicas: int) -> str:
    return f"""
  - name: {name}
    replicas: {replicas}
    min_replicas: {min_replicas}
    max_replicas: 8
    gpu_memory_gib: 40
    cold_start_seconds: 120
    slo: {{queue_delay_seconds: 2.0}}
    profile: {{throughput_rps: {{H100: 2.0}}}}
    trace: {{file: {TRACE}, scale: 0.002}}"""


def _scenario(tmp_path: Path) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / "composite.yaml"
    path.write_text(
        f"""\
name: composite-test
start: "2026-11-02T00:00:00+00:00"
duration: 1h
tick_seconds: 60
cluster:
  node_groups:
    - {{name: h100, count: 3, gpu_type: H100, gpus_per_node: 4, gpu_memory_gib: 80,
        price_per_gpu_hour: 2.0}}
models:{_model("a", 2, 2)}{_model("c", 2, 0)}{_model("b", 5, 5)}
planner:
  kind: composite
  scaling: {{kind: reactive, scale_down_stabilisation_seconds: 0}}
  consolidation: {{max_moves: 8}}
policy: policy.yaml
"""
    )
    return path


def test_the_composite_planner_consolidates_in_the_daemon_without_a_dip(tmp_path: Path) -> None:
    settings = Settings(journal=tmp_path / "j.db")
    run = build_sim_run(load_scenario(str(_scenario(tmp_path))), settings, fresh=True)
    assert isinstance(run.daemon.planner, CompositePlanner)
    assert run.daemon.planner.members == ("reactive", "consolidation")
    run.clock.advance(180)  # every replica Ready: n0 a0 a1 c0 c1 | n1 b0-b3 | n2 b4
    sim = run.cluster.simulator
    before = run.cluster.snapshot()
    used = {n.name: sum(g.allocated_to is not None for g in n.gpus) for n in before.nodes}
    assert used == {"h100-0": 4, "h100-1": 4, "h100-2": 1}
    ready = {k: sim.phase_counts(k)[ReplicaPhase.READY] for k in ("serving/a", "serving/b")}
    assert ready == {"serving/a": 2, "serving/b": 5}
    records = []
    for _ in range(6):  # reactive scales c down; consolidation then moves b4 and empties n2
        records.append(asyncio.run(run.daemon.tick()))
        run.clock.advance(60)
        for k, n in ready.items():
            assert sim.phase_counts(k)[ReplicaPhase.READY] >= n  # never a capacity dip
    applied_ids = {
        x.action_id for r in records for x in r.results if x.status is ResultStatus.APPLIED
    }
    applied = [
        (p.action.kind, p.planner)
        for r in records
        for p in r.proposals
        if p.action.id in applied_ids
    ]
    assert ("scale", "reactive") in applied
    assert ("move-replica", "consolidation") in applied
    assert ("cordon", "consolidation") in applied
    end = run.cluster.snapshot()
    empty = [n.name for n in end.nodes if all(g.allocated_to is None for g in n.gpus)]
    assert empty == ["h100-2"] and end.node("h100-2").cordoned  # type: ignore[union-attr]
    assert sum(sim.tally(k).dropped for k in ready) == 0
