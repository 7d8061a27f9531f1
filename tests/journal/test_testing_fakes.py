"""The public fakes and builders in `gpusteward.testing` behave as documented.

(`InMemoryJournal` is covered by the journal conformance suite.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ReplicaPhase, ServingMetrics
from gpusteward.core.errors import ActionRejected, ClusterUnavailable
from gpusteward.core.verdicts import ResultStatus
from gpusteward.testing import (
    T0,
    FakeClusterSource,
    RecordingExecutor,
    ScriptedPlanner,
    StaticPlanner,
    make_deployment,
    make_snapshot,
)


def scale(replicas: int = 3) -> ScaleDeployment:
    return ScaleDeployment(issued_at=T0, deployment="default/llm-chat", replicas=replicas)


# -- make_snapshot ------------------------------------------------------------------


def test_default_snapshot_places_every_replica_on_gpus_allocated_to_it() -> None:
    snap = make_snapshot()

    assert (len(snap.nodes), snap.total_gpus(), len(snap.deployments)) == (2, 8, 2)
    for d in snap.deployments:
        assert d.count(ReplicaPhase.READY) == d.replicas
        for r in d.replica_states:
            node = snap.node(r.node or "")
            assert node is not None
            assert {g.index for g in node.gpus if g.allocated_to == r.id} == set(r.gpu_indices)
    assert set(snap.metrics) == {"default/llm-chat", "default/sdxl"}


def test_replicas_that_do_not_fit_are_pending() -> None:
    snap = make_snapshot(nodes=1, gpus_per_node=2, deployments=[make_deployment(replicas=3)])

    [d] = snap.deployments
    assert [r.phase for r in d.replica_states] == [
        ReplicaPhase.READY,
        ReplicaPhase.READY,
        ReplicaPhase.PENDING,
    ]
    assert snap.metrics[d.key].capacity_rps == 20.0


def test_metrics_overrides_replace_the_generated_ones() -> None:
    hot = ServingMetrics(arrival_rate_rps=99.0, served_rate_rps=20.0, queue_depth=400)

    snap = make_snapshot(metrics={"default/llm-chat": hot})

    assert snap.metrics["default/llm-chat"] == hot
    assert snap.metrics["default/sdxl"].queue_depth == 0


# -- FakeClusterSource --------------------------------------------------------------


def test_cluster_source_fails_the_next_n_calls_then_recovers() -> None:
    source = FakeClusterSource()
    source.fail_next(2, message="apiserver timeout")

    for _ in range(2):
        with pytest.raises(ClusterUnavailable, match="apiserver timeout"):
            source.snapshot()
    assert source.snapshot() is source.current
    assert source.calls == 3


def test_cluster_source_returns_the_snapshot_last_set() -> None:
    source = FakeClusterSource()
    later = make_snapshot(at=T0 + timedelta(minutes=1))

    source.set(later)

    assert source.snapshot() is later


# -- RecordingExecutor --------------------------------------------------------------


def test_executor_applies_an_id_once_and_reports_duplicates() -> None:
    executor = RecordingExecutor()
    action = scale()

    first = executor.execute(action)
    second = executor.execute(action)

    assert (first.status, second.status) == (ResultStatus.APPLIED, ResultStatus.DUPLICATE)
    assert executor.executed == [action]


def test_a_dry_run_changes_nothing_and_the_id_may_run_for_real_later() -> None:
    executor = RecordingExecutor()
    action = scale()

    assert executor.execute(action, dry_run=True).status == ResultStatus.DRY_RUN
    assert (executor.executed, executor.dry_runs) == ([], [action])
    assert executor.execute(action).status == ResultStatus.APPLIED


def test_an_injected_failure_is_a_failed_result_and_the_retry_applies() -> None:
    executor = RecordingExecutor()
    executor.fail_next(1, message="quota exceeded")

    failed = executor.execute(scale())
    retried = executor.execute(scale())

    assert (failed.status, failed.message) == (ResultStatus.FAILED, "quota exceeded")
    assert retried.status == ResultStatus.APPLIED


def test_an_injected_error_is_raised() -> None:
    executor = RecordingExecutor()
    executor.fail_next(error=ActionRejected("no such deployment"))

    with pytest.raises(ActionRejected):
        executor.execute(scale())
    assert executor.executed == []


def test_ids_executed_before_a_restart_are_duplicates() -> None:
    action = scale()
    executor = RecordingExecutor(already_executed={action.id})

    assert executor.execute(action).status == ResultStatus.DUPLICATE


def test_result_time_comes_from_the_clock_when_given() -> None:
    clock = VirtualClock(T0 + timedelta(hours=1))

    result = RecordingExecutor(clock=clock).execute(scale())

    assert result.at == T0 + timedelta(hours=1)


# -- planners -----------------------------------------------------------------------


def test_static_planner_returns_its_proposals_or_raises() -> None:
    proposal = Proposal(action=scale(), reason="queue growing")
    snap = make_snapshot()

    assert StaticPlanner([proposal]).plan(snap, {}) == [proposal]
    with pytest.raises(TimeoutError):
        StaticPlanner(error=TimeoutError("llm")).plan(snap, {})


def test_scripted_planner_plays_its_steps_in_order_then_refuses() -> None:
    proposal = Proposal(action=scale(), reason="queue growing")
    planner = ScriptedPlanner([[proposal], ValueError("bad tool call"), []])
    snap = make_snapshot()

    assert planner.plan(snap, {}) == [proposal]
    with pytest.raises(ValueError, match="bad tool call"):
        planner.plan(snap, {})
    assert planner.plan(snap, {}) == []
    with pytest.raises(RuntimeError, match="call 4 but the script has 3 step"):
        planner.plan(snap, {})
