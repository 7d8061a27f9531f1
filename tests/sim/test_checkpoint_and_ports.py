"""Checkpoint / restore, and the simulator behind the ClusterSource and Executor ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import ScenarioError
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import FaultSpec
from tests.sim.conftest import SpecFactory, model

KEY = "serving/m"


def test_restored_simulator_continues_exactly_like_the_original(make_spec: SpecFactory) -> None:
    spec = make_spec(
        models=[model(replicas=2)],
        faults=FaultSpec(gpu_failures_per_gpu_hour=0.5, gpu_repair_seconds=600),
    )
    original = Simulator(spec)
    for _ in range(50):
        original.step()
    action = ScaleDeployment(issued_at=original.now, deployment=KEY, replicas=3)
    original.execute(action)
    restored = Simulator.restore(spec, original.checkpoint())
    assert restored.now == original.now
    assert restored.execute(action).status is ResultStatus.DUPLICATE  # executed ids kept
    for _ in range(100):
        original.step()
        restored.step()
        assert restored.snapshot() == original.snapshot()


def test_restore_refuses_a_checkpoint_of_another_spec(make_spec: SpecFactory) -> None:
    data = Simulator(make_spec(seed=1)).checkpoint()
    with pytest.raises(ScenarioError, match="different SimSpec"):
        Simulator.restore(make_spec(seed=2), data)


def test_restore_refuses_bytes_that_are_not_a_checkpoint(make_spec: SpecFactory) -> None:
    with pytest.raises(ScenarioError, match="cannot be read"):
        Simulator.restore(make_spec(), b"not a checkpoint")


def test_simulated_cluster_advances_to_the_clock_before_observing(
    make_spec: SpecFactory,
) -> None:
    spec = make_spec()
    clock = VirtualClock(spec.start)
    cluster = SimulatedCluster(Simulator(spec), clock)
    clock.advance(600)
    snap = cluster.snapshot()
    assert snap.at == spec.start + timedelta(seconds=600)
    assert snap.interval_seconds == 600


def test_simulated_cluster_acts_at_the_clock_time(make_spec: SpecFactory) -> None:
    spec = make_spec()
    clock = VirtualClock(spec.start)
    cluster = SimulatedCluster(Simulator(spec), clock)
    clock.advance(120)
    result = cluster.execute(ScaleDeployment(issued_at=clock.now(), deployment=KEY, replicas=1))
    assert result.at == clock.now()
    assert cluster.simulator.now == clock.now()
