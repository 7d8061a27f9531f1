"""The simulator's step loop: conservation, GPU accounting, cold starts, placement, faults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusteward.core.cluster import ClusterSnapshot, Pool, ReplicaPhase
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import FaultSpec
from tests.sim.conftest import M_MID, SpecFactory, model, node_group, sim_spec, write_total_trace

KEY = "serving/m"


def run(sim: Simulator, steps: int) -> list[ClusterSnapshot]:
    snaps = []
    for _ in range(steps):
        sim.step()
        snaps.append(sim.snapshot())
    return snaps


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.001, 0.1),
    replicas=st.integers(0, 8),
    cold=st.sampled_from([0.0, 45.0, 200.0]),
)
def test_every_step_conserves_requests(seed: int, scale: float, replicas: int, cold: float) -> None:
    """arrived == served + queued + dropped after every step, for any load and fleet."""
    m = model(replicas=replicas, cold_start_seconds=cold, trace_kw={"scale": scale})
    sim = Simulator(sim_spec(models=[m], seed=seed, groups=[node_group(count=2)]))
    for _ in range(120):
        sim.step()
        t = sim.tally(KEY)
        assert t.arrived == t.served + sim.queued(KEY) + t.dropped


def test_gpu_hours_count_loading_and_ready_replicas_each_step(make_spec: SpecFactory) -> None:
    spec = make_spec(models=[model(replicas=3, gpus_per_replica=1)])
    sim = Simulator(spec)
    expected = 0.0
    for _ in range(30):
        sim.step()
        counts = sim.phase_counts(KEY)
        # phases after the step equal those charged in it (nothing changed mid-step here)
        expected += (counts[ReplicaPhase.LOADING] + counts[ReplicaPhase.READY]) * 60 / 3600
    assert abs(sim.tally(KEY).gpu_hours - expected) < 1e-9
    assert abs(sim.tally(KEY).cost_usd - expected * 2.0) < 1e-9


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(
    make_spec: SpecFactory,
) -> None:
    def metrics(seed: int) -> list[object]:
        spec = make_spec(seed=seed, faults=FaultSpec(gpu_failures_per_gpu_hour=0.05))
        return [s.metrics for s in run(Simulator(spec), 200)]

    assert metrics(3) == metrics(3)
    assert metrics(3) != metrics(4)


def test_nothing_is_served_before_the_cold_start_has_elapsed(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=2, cold_start_seconds=150)]))
    served = []
    for _ in range(5):
        sim.step()
        served.append(sim.tally(KEY).served)
    assert served[:2] == [0, 0]  # [0, 120 s): still loading
    assert 0 < served[2] < served[3]  # ready at 150 s: half of the third step serves


def test_a_scaled_up_replica_waits_for_its_cold_start(make_spec: SpecFactory) -> None:
    from gpusteward.core.actions import ScaleDeployment

    sim = Simulator(make_spec(models=[model(replicas=0, cold_start_seconds=240)]))
    sim.step()
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    for _ in range(4):
        sim.step()
        assert sim.tally(KEY).served == 0
    sim.step()
    assert sim.tally(KEY).served > 0


def test_replicas_beyond_the_free_gpus_stay_pending(make_spec: SpecFactory) -> None:
    spec = make_spec(models=[model(replicas=7, gpus_per_replica=2)])  # 4 GPUs in the cluster
    sim = Simulator(spec)
    snap = run(sim, 5)[-1]
    dep = snap.deployments[0]
    assert dep.count(ReplicaPhase.PENDING) == 5
    owners = [g.allocated_to for g in snap.nodes[0].gpus]
    placed = [r for r in dep.replica_states if r.node is not None]
    assert sorted(o for o in owners if o) == sorted(r.id for r in placed for _ in r.gpu_indices)
    assert all(owners.count(r.id) == 2 for r in placed)


def test_models_share_gpus_without_double_allocation(make_spec: SpecFactory) -> None:
    spec = make_spec(
        models=[model("a", replicas=3), model("b", trace=M_MID, replicas=3)],
        groups=[node_group(count=1)],
    )
    snap = run(Simulator(spec), 3)[-1]
    holders = [g.allocated_to for n in snap.nodes for g in n.gpus if g.allocated_to]
    assert len(holders) == len(set(holders)) == 4
    assert sum(d.count(ReplicaPhase.PENDING) for d in snap.deployments) == 2


def test_placement_prefers_the_cheapest_node_then_packs(make_spec: SpecFactory) -> None:
    spec = make_spec(
        models=[model(replicas=3)],
        groups=[
            node_group("h100", count=2, price_per_gpu_hour=2.0),
            node_group("a100", count=2, gpu_type="A100", price_per_gpu_hour=1.0),
        ],
    )
    snap = run(Simulator(spec), 1)[-1]
    assert {r.node for r in snap.deployments[0].replica_states} == {"a100-0"}


def test_placement_respects_pool_and_gpu_memory(make_spec: SpecFactory) -> None:
    spec = make_spec(
        models=[model(replicas=2, pools=(Pool.CLOUD,), gpu_memory_gib=60)],
        groups=[
            node_group("small", pool=Pool.CLOUD, gpu_memory_gib=48, price_per_gpu_hour=0.5),
            node_group("onprem", pool=Pool.ON_PREM, price_per_gpu_hour=0.1),
            node_group("big", pool=Pool.CLOUD, price_per_gpu_hour=3.0),
        ],
    )
    snap = run(Simulator(spec), 1)[-1]
    assert {r.node for r in snap.deployments[0].replica_states} == {"big-0"}


def test_snapshot_metrics_cover_the_steps_since_the_previous_snapshot(
    make_spec: SpecFactory,
) -> None:
    sim = Simulator(make_spec(models=[model(replicas=4, cold_start_seconds=0)]))
    for _ in range(10):
        sim.step()
    snap = sim.snapshot()
    assert snap.interval_seconds == 600
    acc = snap.accounting
    assert acc is not None
    assert snap.metrics[KEY].arrival_rate_rps * 600 == pytest.approx(acc[KEY].arrived)
    assert snap.metrics[KEY].capacity_rps == 8.0  # 4 H100 replicas x 2 rps
    sim.step()
    assert sim.snapshot().interval_seconds == 60


def test_advance_to_runs_whole_steps_only(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec())
    start = sim.now
    assert sim.advance_to(start + timedelta(seconds=179)) == 2
    assert sim.now == start + timedelta(seconds=120)
    assert sim.advance_to(start) == 0


def test_spot_preemption_loses_replicas_and_fails_the_node_gpus(tmp_path: Path) -> None:
    trace = write_total_trace(tmp_path / "t.csv", [100.0])
    spec = sim_spec(
        models=[model(trace=trace, replicas=4, cold_start_seconds=0)],
        groups=[node_group("spot", pool=Pool.SPOT)],
        faults=FaultSpec(spot_preemptions_per_node_hour=60.0, spot_outage_seconds=600),
    )
    sim = Simulator(spec)
    snaps = run(sim, 30)
    preempted = next(s for s in snaps if any(g.health == "failed" for g in s.nodes[0].gpus))
    assert all(g.health == "failed" and g.allocated_to is None for g in preempted.nodes[0].gpus)
    assert preempted.deployments[0].count(ReplicaPhase.PENDING) == 4
    assert sim._state.faults.counts.replicas_lost >= 4


def test_a_failed_gpu_loses_the_replica_on_it(make_spec: SpecFactory) -> None:
    spec = make_spec(
        models=[model(replicas=4, cold_start_seconds=0)],
        faults=FaultSpec(gpu_failures_per_gpu_hour=2.0, gpu_repair_seconds=3600),
    )
    sim = Simulator(spec)
    snaps = run(sim, 60)
    failed = [g for g in snaps[-1].nodes[0].gpus if g.health == "failed"]
    assert failed and all(g.allocated_to is None for g in failed)
    assert sim._state.faults.counts.replicas_lost >= len(failed)


def test_faults_do_not_change_arrivals(make_spec: SpecFactory) -> None:
    def arrived(faults: FaultSpec) -> int:
        sim = Simulator(make_spec(faults=faults))
        run(sim, 100)
        return sim.tally(KEY).arrived

    assert arrived(FaultSpec()) == arrived(FaultSpec(gpu_failures_per_gpu_hour=1.0))
