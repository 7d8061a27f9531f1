"""Drain before removing: a replica taken out of service finishes its in-flight requests
(within its grace period) before its GPUs are freed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusteward.core.actions import ConsolidateModels, MoveReplica, ScaleDeployment
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.sim.engine import Simulator
from gpusteward.sim.fleet import last_finish_seconds, still_running
from gpusteward.sim.spec import FaultSpec, ModelSpec
from tests.sim.conftest import model, node_group, sim_spec, write_total_trace

KEY = "serving/m"


def _busy(tmp_path: Path, **kw: object) -> ModelSpec:
    """3 req/s on 3 H100 replicas of 2 req/s each; a request runs 60 s (300 s at most), so
    a replica holds about 60 requests and its drain outlasts a step."""
    trace = write_total_trace(tmp_path / "flat.csv", [3.0] * 12)
    base: dict[str, object] = dict(
        trace=trace,
        replicas=3,
        cold_start_seconds=0,
        request_seconds=60.0,
        max_request_seconds=300.0,
        termination_grace_seconds=400.0,
        trace_kw={"scale": 1.0},
    )
    return model(**{**base, **kw})


def _scaled_down(sim: Simulator, to: int = 2) -> None:
    for _ in range(3):
        sim.step()
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=to))


def test_a_scaled_down_replica_drains_its_in_flight_requests_before_it_goes(
    tmp_path: Path,
) -> None:
    sim = Simulator(sim_spec(models=[_busy(tmp_path)]))
    _scaled_down(sim)
    sim.step()
    d = sim.snapshot().deployments[0]
    assert len(d.replica_states) == 2  # the drained one no longer counts
    (draining,) = d.draining
    assert draining.phase is ReplicaPhase.DRAINING
    assert draining.in_flight > 0
    assert 0 < draining.drain_ends_in_seconds <= 300.0 - 60.0
    held = {g.allocated_to for g in sim.snapshot().nodes[0].gpus}
    assert draining.id in held  # its GPU is not free while it drains
    for _ in range(4):
        sim.step()
    assert sim.snapshot().deployments[0].draining == ()
    assert sim.tally(KEY).dropped_on_removal == 0


def test_a_draining_replica_is_charged_gpu_time_until_it_is_removed(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_busy(tmp_path)]))
    _scaled_down(sim)
    before = sim.tally(KEY).gpu_hours
    sim.step()
    d = sim.snapshot().deployments[0]
    assert len(d.draining) == 1
    charged = sim.tally(KEY).gpu_hours - before
    assert charged == pytest.approx(3 * 60.0 / 3600.0)  # two serving, one draining
    while sim.snapshot().deployments[0].draining:
        sim.step()
    before = sim.tally(KEY).gpu_hours
    sim.step()
    assert sim.tally(KEY).gpu_hours - before == pytest.approx(2 * 60.0 / 3600.0)


def test_killing_at_once_drops_the_in_flight_requests_and_keeps_the_count(
    tmp_path: Path,
) -> None:
    sim = Simulator(sim_spec(models=[_busy(tmp_path, termination_grace_seconds=0.0)]))
    _scaled_down(sim)
    sim.step()
    t = sim.tally(KEY)
    # one of three replicas held a third of 3 req/s x 60 s = 60 requests in flight
    assert t.dropped_on_removal == pytest.approx(60, rel=0.2)
    assert t.dropped >= t.dropped_on_removal
    assert t.arrived == t.served + sim.queued(KEY) + t.dropped


def test_a_grace_shorter_than_the_longest_request_kills_only_those_still_running(
    tmp_path: Path,
) -> None:
    sim = Simulator(sim_spec(models=[_busy(tmp_path, termination_grace_seconds=90.0)]))
    _scaled_down(sim)
    in_flight = max(r.in_flight for r in sim._state.fleet.deployments[KEY].replicas)
    sim.step()
    assert len(sim.snapshot().deployments[0].draining) == 1  # 90 s of grace: still there
    sim.step()
    assert sim.snapshot().deployments[0].draining == ()
    expected = in_flight * still_running(90.0, 60.0, 300.0)
    assert 0 < expected < in_flight
    assert abs(sim.tally(KEY).dropped_on_removal - expected) < 1.0


def test_without_request_times_a_replica_goes_at_once(tmp_path: Path) -> None:
    sim = Simulator(sim_spec(models=[_busy(tmp_path, request_seconds=0.0)]))
    _scaled_down(sim)
    sim.step()
    d = sim.snapshot().deployments[0]
    assert d.draining == () and len(d.replica_states) == 2


def test_a_moved_replica_drains_after_its_replacement_is_ready(tmp_path: Path) -> None:
    spec = sim_spec(
        models=[_busy(tmp_path, replicas=1, cold_start_seconds=90)],
        groups=[node_group(count=2)],
    )
    sim = Simulator(spec)
    for _ in range(3):
        sim.step()
    old = sim.snapshot().deployments[0].replica_states[0]
    to = "h100-1" if old.node == "h100-0" else "h100-0"
    sim.execute(MoveReplica(issued_at=sim.now, deployment=KEY, replica=old.id, to_node=to))
    sim.step()
    d = sim.snapshot().deployments[0]
    assert d.draining == ()  # the old one serves while the new one loads
    sim.step()
    d = sim.snapshot().deployments[0]
    assert [r.id for r in d.draining] == [old.id]
    for _ in range(5):
        sim.step()
    assert sim.snapshot().deployments[0].draining == ()
    assert sim.tally(KEY).dropped_on_removal == 0


def test_consolidated_sources_drain_and_drop_nothing(tmp_path: Path) -> None:
    src = _busy(tmp_path, name="src", replicas=2)
    into = _busy(tmp_path, name="into", replicas=3)
    sim = Simulator(sim_spec(models=[src, into], groups=[node_group(gpus_per_node=8)]))
    for _ in range(3):
        sim.step()
    sim.execute(ConsolidateModels(issued_at=sim.now, sources=("serving/src",), into="serving/into"))
    sim.step()
    assert len(sim.snapshot().deployments[0].draining) == 2
    for _ in range(5):
        sim.step()
    assert sim.snapshot().deployments[0].draining == ()
    assert sim.tally("serving/src").dropped_on_removal == 0


def test_a_fault_kills_the_in_flight_requests_of_its_replicas(tmp_path: Path) -> None:
    spec = sim_spec(models=[_busy(tmp_path)], faults=FaultSpec())
    sim = Simulator(spec)
    for _ in range(3):
        sim.step()
    sim.fail_gpus("h100-0", None, 600.0)
    sim.step()
    t = sim.tally(KEY)
    assert t.dropped_on_failure == pytest.approx(180, rel=0.2)  # 3 req/s x 60 s
    assert t.dropped_on_removal == 0
    assert t.arrived == t.served + sim.queued(KEY) + t.dropped


@pytest.mark.parametrize("mean,longest", [(5.0, 20.0), (20.0, 60.0), (60.0, 600.0)])
def test_the_residual_run_time_model_is_a_survival_curve(mean: float, longest: float) -> None:
    shares = [still_running(x, mean, longest) for x in (0.0, mean, longest / 2, longest)]
    assert shares[0] == pytest.approx(1.0)
    assert shares == sorted(shares, reverse=True)
    assert shares[-1] == 0.0
    assert 0 < last_finish_seconds(40.0, mean, longest) <= longest
    assert last_finish_seconds(0.4, mean, longest) == 0.0
