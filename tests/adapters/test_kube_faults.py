"""Fault injection against the emulated API: retries, no duplicate action, no crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gpusteward.adapters.kube_cluster import ACTION_IDS
from gpusteward.core.actions import PrewarmReplicas, Proposal, ScaleDeployment
from gpusteward.core.errors import ClusterUnavailable
from gpusteward.core.tick import Stage
from gpusteward.core.verdicts import ResultStatus
from gpusteward.testing import StaticPlanner
from tests.adapters.daemons import kube_daemon
from tests.contract.kube_emulator import Fault
from tests.contract.worlds import DEPLOYMENT, NAME, NAMESPACE, World, emulated_world

DEPLOY_PATH = rf"/namespaces/{NAMESPACE}/deployments/{NAME}$"
SCALE_PATH = rf"/namespaces/{NAMESPACE}/deployments/{NAME}/scale$"


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    with emulated_world(tmp_path) as w:
        yield w


def stored(world: World) -> dict:  # type: ignore[type-arg]
    assert world.server is not None
    return world.server.get("apps/v1/deployments", NAMESPACE, NAME)


def answered(world: World, method: str, path: str) -> list[int]:
    assert world.server is not None
    return [
        s.answered
        for s in world.server.emulator.seen
        if s.method == method and s.path.endswith(path)
    ]


def test_a_conflict_on_the_annotation_is_retried_from_a_fresh_read(world: World) -> None:
    assert world.server is not None and world.cluster is not None
    world.server.fault(Fault("PATCH", DEPLOY_PATH, status=409))
    action = ScaleDeployment(issued_at=world.clock.now(), deployment=DEPLOYMENT, replicas=5)
    result = world.executor.execute(action)
    assert result.status is ResultStatus.APPLIED
    assert world.cluster.retries == 1 and world.slept == [0.2]  # backoff, on the injected sleep
    assert answered(world, "PATCH", f"/{NAME}") == [409, 200]
    assert stored(world)["spec"]["replicas"] == 5
    assert stored(world)["metadata"]["annotations"][ACTION_IDS].split() == [action.id]


def test_a_failure_between_annotate_and_scale_completes_without_adding_twice(
    world: World,
) -> None:
    assert world.server is not None
    world.server.fault(Fault("PATCH", SCALE_PATH, status=500))
    action = PrewarmReplicas(issued_at=world.clock.now(), deployment=DEPLOYMENT, count=1)
    result = world.executor.execute(action)
    assert result.status is ResultStatus.APPLIED, result.message
    assert answered(world, "PATCH", "/scale") == [500, 200]
    assert answered(world, "PATCH", f"/{NAME}") == [200]  # annotated once
    assert stored(world)["spec"]["replicas"] == 3  # 2 + 1, even though the scale was retried


def test_a_stalled_read_times_out_and_is_retried(world: World) -> None:
    assert world.server is not None and world.cluster is not None
    world.server.fault(Fault("GET", DEPLOY_PATH, stall_seconds=1.0))  # read timeout is 0.5 s
    action = ScaleDeployment(issued_at=world.clock.now(), deployment=DEPLOYMENT, replicas=4)
    assert world.executor.execute(action).status is ResultStatus.APPLIED
    assert world.cluster.retries == 1
    assert stored(world)["spec"]["replicas"] == 4


def test_throttled_and_failing_lists_are_retried_with_growing_backoff(world: World) -> None:
    assert world.server is not None
    world.server.fault(Fault("GET", r"/api/v1/nodes$", status=429))
    world.server.fault(Fault("GET", r"/deployments$", status=503))
    snap = world.source.snapshot()
    assert len(snap.nodes) == 2 and len(snap.deployments) == 1
    assert world.slept == [0.2, 0.4]


def test_an_api_that_keeps_failing_raises_cluster_unavailable_after_the_attempts(
    world: World,
) -> None:
    assert world.server is not None
    world.server.fault(Fault("GET", r"/api/v1/nodes$", status=500, times=99))
    with pytest.raises(ClusterUnavailable, match="gave up after 5 attempts"):
        world.source.snapshot()
    assert world.slept == [0.2, 0.4, 0.8, 1.6]


def test_the_daemon_survives_a_failed_write_and_completes_the_action_later(
    world: World,
) -> None:
    """Tick 1: every scale PATCH fails (5 attempts): FAILED, recorded, no crash. Tick 2:
    the same action id runs again and completes the scale that was left half-done."""
    assert world.server is not None and world.cluster is not None
    action = ScaleDeployment(issued_at=world.clock.now(), deployment=DEPLOYMENT, replicas=6)
    daemon = kube_daemon(
        world.cluster, world.clock, planner=StaticPlanner([Proposal(action=action, reason="t")])
    )
    world.server.fault(Fault("PATCH", SCALE_PATH, status=500, times=5))
    first = asyncio.run(daemon.tick())
    assert [r.status for r in first.results] == [ResultStatus.FAILED]
    assert [e.stage for e in first.errors] == [Stage.ACT]
    assert stored(world)["spec"]["replicas"] == 2
    second = asyncio.run(daemon.tick())
    assert [r.status for r in second.results] == [ResultStatus.APPLIED]
    third = asyncio.run(daemon.tick())
    assert [r.status for r in third.results] == [ResultStatus.DUPLICATE]  # the journal knows
    assert stored(world)["spec"]["replicas"] == 6
    assert stored(world)["metadata"]["annotations"][ACTION_IDS].split() == [action.id]
