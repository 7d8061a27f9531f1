"""The `ClusterSource` + `Executor` contract: one suite, every backend (see conftest.py).

What a daemon may rely on, whichever cluster stands behind the ports.
"""

from __future__ import annotations

from datetime import timedelta

from gpusteward.core.actions import (
    CordonNode,
    MergeAdapters,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    ScheduleCapacity,
    UnmergeAdapters,
)
from gpusteward.core.cluster import ModelDeployment, ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from tests.contract.worlds import DEPLOYMENT, FINE_TUNE, GPU_TYPE, MODEL, NODES, World


def deployment(world: World) -> ModelDeployment:
    found = world.source.snapshot().deployment(DEPLOYMENT)
    assert found is not None, f"{world.name}: {DEPLOYMENT} missing from the snapshot"
    return found


def test_snapshot_describes_the_model_deployment(world: World) -> None:
    d = deployment(world)
    assert (d.model, d.replicas, d.gpus_per_replica) == (MODEL, 2, 1)
    assert (d.min_replicas, d.max_replicas, d.cold_start_seconds) == (0, 16, 120)
    assert d.slo.queue_delay_seconds == 2.0
    assert not d.retired


def test_snapshot_lists_gpu_nodes_with_their_gpus(world: World) -> None:
    snap = world.source.snapshot()
    assert snap.at == world.clock.now()
    assert sorted(n.name for n in snap.nodes) == sorted(NODES)
    for node in snap.nodes:
        assert len(node.gpus) == 4 and not node.cordoned
        assert {g.type for g in node.gpus} == {GPU_TYPE}
        assert all(g.memory_gib == 80 for g in node.gpus)


def test_replicas_hold_gpus_on_the_nodes_they_run_on(world: World) -> None:
    world.clock.advance(600)  # the simulator places and warms replicas over time
    snap = world.source.snapshot()
    d = snap.deployment(DEPLOYMENT)
    assert d is not None
    placed = [r for r in d.replica_states if r.phase is not ReplicaPhase.PENDING]
    assert len(placed) == 2
    for r in placed:
        node = snap.node(r.node or "")
        assert node is not None
        assert [node.gpus[i].allocated_to for i in r.gpu_indices] == [r.id]


def test_scale_sets_the_desired_replicas(world: World) -> None:
    action = ScaleDeployment(issued_at=world.clock.now(), deployment=DEPLOYMENT, replicas=5)
    result = world.executor.execute(action)
    assert result.status is ResultStatus.APPLIED, result.message
    assert (result.action_id, result.at) == (action.id, world.clock.now())
    assert deployment(world).replicas == 5


def test_the_same_action_id_runs_at_most_once(world: World) -> None:
    action = PrewarmReplicas(issued_at=world.clock.now(), deployment=DEPLOYMENT, count=1)
    assert world.executor.execute(action).status is ResultStatus.APPLIED
    again = world.executor.execute(action)
    assert again.status is ResultStatus.DUPLICATE, again.message
    assert deployment(world).replicas == 3  # 2 + 1, not 2 + 1 + 1


def test_dry_run_reports_and_changes_nothing(world: World) -> None:
    now = world.clock.now()
    for action in (
        ScaleDeployment(issued_at=now, deployment=DEPLOYMENT, replicas=7),
        RetireModel(issued_at=now, deployment=DEPLOYMENT),
        CordonNode(issued_at=now, node=NODES[1]),
    ):
        result = world.executor.execute(action, dry_run=True)
        assert result.status is ResultStatus.DRY_RUN, result.message
    snap = world.source.snapshot()
    d = snap.deployment(DEPLOYMENT)
    assert d is not None and (d.replicas, d.retired) == (2, False)
    assert not any(n.cordoned for n in snap.nodes)
    real = ScaleDeployment(issued_at=now, deployment=DEPLOYMENT, replicas=7)
    assert world.executor.execute(real).status is ResultStatus.APPLIED  # dry run used no id


def test_an_unknown_target_fails_and_names_it(world: World) -> None:
    now = world.clock.now()
    missing = ScaleDeployment(issued_at=now, deployment="serving/nope", replicas=1)
    result = world.executor.execute(missing)
    assert result.status is ResultStatus.FAILED
    assert "unknown" in result.message and "nope" in result.message
    node = world.executor.execute(CordonNode(issued_at=now, node="no-such-node"))
    assert node.status is ResultStatus.FAILED and "no-such-node" in node.message


def test_cordon_and_uncordon_a_node(world: World) -> None:
    now = world.clock.now()
    assert world.executor.execute(CordonNode(issued_at=now, node=NODES[1])).status is (
        ResultStatus.APPLIED
    )
    snap = world.source.snapshot()
    assert [n.name for n in snap.nodes if n.cordoned] == [NODES[1]]
    assert snap.node(NODES[1]) is not None and snap.node(NODES[1]).free_gpus() == 0  # type: ignore[union-attr]
    undo = CordonNode(issued_at=now, node=NODES[1], cordon=False)
    assert world.executor.execute(undo).status is ResultStatus.APPLIED
    assert not any(n.cordoned for n in world.source.snapshot().nodes)


def test_retire_scales_to_zero_and_takes_no_further_scaling(world: World) -> None:
    now = world.clock.now()
    result = world.executor.execute(RetireModel(issued_at=now, deployment=DEPLOYMENT))
    assert result.status is ResultStatus.APPLIED, result.message
    d = deployment(world)
    assert (d.replicas, d.retired) == (0, True)
    later = ScaleDeployment(issued_at=now, deployment=DEPLOYMENT, replicas=3)
    refused = world.executor.execute(later)
    assert refused.status is ResultStatus.FAILED and "retired" in refused.message


def test_move_restricts_the_gpu_types_a_deployment_may_use(world: World) -> None:
    now = world.clock.now()
    action = MoveDeployment(issued_at=now, deployment=DEPLOYMENT, to_gpu_type=GPU_TYPE)
    result = world.executor.execute(action)
    assert result.status is ResultStatus.APPLIED, result.message
    assert deployment(world).gpu_types == (GPU_TYPE,)


def test_a_replica_move_starts_the_new_replica_first_or_fails_with_a_reason(world: World) -> None:
    """Backends that cannot pin a replica to a node answer FAILED, never raise or dip."""
    world.clock.advance(600)
    d = deployment(world)
    (first, *_) = [r for r in d.replica_states if r.node is not None]
    other = next(n for n in NODES if n != first.node)
    move = MoveReplica(
        issued_at=world.clock.now(), deployment=DEPLOYMENT, replica=first.id, to_node=other
    )
    ready = d.count(ReplicaPhase.READY)
    result = world.executor.execute(move)
    assert result.status in (ResultStatus.APPLIED, ResultStatus.FAILED)
    after = deployment(world)
    assert after.count(ReplicaPhase.READY) == ready  # the old replica still serves
    if result.status is ResultStatus.FAILED:
        assert "not supported" in result.message
        return
    new = [r for r in after.replica_states if r.node == other and r.id != first.id]
    assert new and new[0].phase in (ReplicaPhase.LOADING, ReplicaPhase.READY)


def test_an_approved_schedule_leaves_a_capacity_window_that_lapses_at_its_end(
    world: World,
) -> None:
    now = world.clock.now()
    start, end = now + timedelta(hours=20), now + timedelta(hours=22)
    action = ScheduleCapacity(
        issued_at=now,
        deployment=DEPLOYMENT,
        replicas=6,
        start=start,
        end=end,
        load_multiplier=3.0,
        note="launch tomorrow",
    )
    dry = world.executor.execute(action, dry_run=True)
    assert dry.status is ResultStatus.DRY_RUN, dry.message
    assert deployment(world).capacity_windows == ()
    result = world.executor.execute(action)
    assert result.status is ResultStatus.APPLIED, result.message
    (window,) = deployment(world).capacity_windows
    assert (window.replicas, window.start, window.end) == (6, start, end)
    assert (window.load_multiplier, window.action_id) == (3.0, action.id)
    assert deployment(world).replicas == 2  # nothing starts now: the planners do, later
    assert world.executor.execute(action).status is ResultStatus.DUPLICATE
    over = ScheduleCapacity(
        issued_at=now, deployment=DEPLOYMENT, replicas=1, start=now, end=now + timedelta(hours=1)
    )
    assert world.executor.execute(over).status is ResultStatus.APPLIED
    assert len(deployment(world).capacity_windows) == 2


def test_a_merged_fine_tune_is_routed_to_its_base_model_s_runtime(zoo_world: World) -> None:
    zoo_world.clock.advance(600)
    now = zoo_world.clock.now()
    merge = MergeAdapters(base_model=MODEL, sources=(FINE_TUNE,), into=DEPLOYMENT, issued_at=now)
    dry = zoo_world.executor.execute(merge, dry_run=True)
    assert dry.status is ResultStatus.DRY_RUN, dry.message
    snap = zoo_world.source.snapshot()
    tune = snap.deployment(FINE_TUNE)
    assert tune is not None and tune.routed_to is None and tune.replicas == 1
    result = zoo_world.executor.execute(merge)
    assert result.status is ResultStatus.APPLIED, result.message
    snap = zoo_world.source.snapshot()
    base, tune = snap.deployment(DEPLOYMENT), snap.deployment(FINE_TUNE)
    assert base is not None and tune is not None
    assert base.adapters == (FINE_TUNE,) and base.replicas == 2
    assert tune.routed_to == DEPLOYMENT and tune.replicas == 0
    assert zoo_world.executor.execute(merge).status is ResultStatus.DUPLICATE


def test_only_fine_tunes_of_the_runtime_s_model_merge(zoo_world: World) -> None:
    merge = MergeAdapters(
        base_model="another-model",
        sources=(FINE_TUNE,),
        into=DEPLOYMENT,
        issued_at=zoo_world.clock.now(),
    )
    result = zoo_world.executor.execute(merge)
    assert result.status is ResultStatus.FAILED and "not 'another-model'" in result.message
    tune = zoo_world.source.snapshot().deployment(FINE_TUNE)
    assert tune is not None and tune.routed_to is None and tune.replicas == 1


def test_an_unmerged_fine_tune_is_served_by_its_own_deployment_again(zoo_world: World) -> None:
    zoo_world.clock.advance(600)
    now = zoo_world.clock.now()
    merge = MergeAdapters(base_model=MODEL, sources=(FINE_TUNE,), into=DEPLOYMENT, issued_at=now)
    assert zoo_world.executor.execute(merge).status is ResultStatus.APPLIED
    unmerge = UnmergeAdapters(
        base_model=MODEL, sources=(FINE_TUNE,), runtime=DEPLOYMENT, issued_at=now
    )
    dry = zoo_world.executor.execute(unmerge, dry_run=True)
    assert dry.status is ResultStatus.DRY_RUN, dry.message
    tune = zoo_world.source.snapshot().deployment(FINE_TUNE)
    assert tune is not None and tune.routed_to == DEPLOYMENT  # a dry run changes nothing
    result = zoo_world.executor.execute(unmerge)
    assert result.status is ResultStatus.APPLIED, result.message
    snap = zoo_world.source.snapshot()
    base, tune = snap.deployment(DEPLOYMENT), snap.deployment(FINE_TUNE)
    assert base is not None and tune is not None
    assert base.adapters == () and base.replicas == 2
    assert tune.routed_to is None and tune.replicas == 0  # at zero: woken like any model
    assert zoo_world.executor.execute(unmerge).status is ResultStatus.DUPLICATE


def test_only_a_merged_adapter_is_unmerged(zoo_world: World) -> None:
    unmerge = UnmergeAdapters(
        base_model=MODEL,
        sources=(FINE_TUNE,),
        runtime=DEPLOYMENT,
        issued_at=zoo_world.clock.now(),
    )
    result = zoo_world.executor.execute(unmerge)
    assert result.status is ResultStatus.FAILED
    assert "only a merged adapter can be unmerged" in result.message
    tune = zoo_world.source.snapshot().deployment(FINE_TUNE)
    assert tune is not None and tune.routed_to is None and tune.replicas == 1
