"""Actions applied by the simulator: effects, idempotency, dry runs and unknown targets."""

from __future__ import annotations

from pathlib import Path

from gpusteward.core.actions import (
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import Pool, ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.engine import Simulator
from tests.sim.conftest import M_MID, SpecFactory, model, node_group, sim_spec, write_total_trace

KEY = "serving/m"


def _ready(sim: Simulator, key: str = KEY) -> int:
    return sim.phase_counts(key)[ReplicaPhase.READY]


def test_scale_sets_the_desired_replicas(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=1, cold_start_seconds=0)]))
    result = sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=3))
    sim.step()
    assert result.status is ResultStatus.APPLIED
    assert result.at == sim.spec.start
    assert _ready(sim) == 3
    assert sim.snapshot().deployments[0].replicas == 3


def test_scale_down_removes_the_newest_ready_replicas(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=3, cold_start_seconds=0)]))
    sim.step()
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    sim.step()
    assert [r.id for r in sim.snapshot().deployments[0].replica_states] == ["m-0"]


def test_prewarm_adds_to_the_desired_replicas(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=1)]))
    sim.execute(PrewarmReplicas(issued_at=sim.now, deployment=KEY, count=2))
    sim.step()
    assert sim.phase_counts(KEY)[ReplicaPhase.LOADING] == 3


def test_move_surges_new_replicas_without_a_capacity_dip(tmp_path: Path) -> None:
    trace = write_total_trace(tmp_path / "t.csv", [100.0])
    spec = sim_spec(
        models=[model(trace=trace, replicas=2, cold_start_seconds=150)],
        groups=[
            node_group("h100", price_per_gpu_hour=3.0),
            node_group("a100", gpu_type="A100", pool=Pool.CLOUD, price_per_gpu_hour=1.0),
        ],
    )
    sim = Simulator(spec)
    for _ in range(3):
        sim.step()
    assert {r.node for r in sim.snapshot().deployments[0].replica_states} == {"a100-0"}
    move = MoveDeployment(issued_at=sim.now, deployment=KEY, to_gpu_type="H100")
    assert sim.execute(move).status is ResultStatus.APPLIED
    capacities = []
    for _ in range(6):
        sim.step()
        capacities.append(sim.snapshot().metrics[KEY].capacity_rps)
    assert min(capacities) >= 2 * 1.0  # never below the two old A100 replicas
    final = sim.snapshot().deployments[0]
    assert {r.node for r in final.replica_states} == {"h100-0"}
    assert final.count(ReplicaPhase.READY) == 2


def test_move_to_an_unprofiled_gpu_type_fails_and_names_the_known_types(
    make_spec: SpecFactory,
) -> None:
    sim = Simulator(make_spec())
    result = sim.execute(MoveDeployment(issued_at=sim.now, deployment=KEY, to_gpu_type="B200"))
    assert result.status is ResultStatus.FAILED
    assert "B200" in result.message and "H100, A100" in result.message


def test_consolidate_routes_source_arrivals_into_the_target(make_spec: SpecFactory) -> None:
    spec = make_spec(models=[model("a"), model("b", trace=M_MID)], groups=[node_group(count=2)])
    sim = Simulator(spec)
    sim.step()
    action = ConsolidateModels(issued_at=sim.now, sources=("serving/b",), into="serving/a")
    assert sim.execute(action).status is ResultStatus.APPLIED
    b_before = sim.tally("serving/b").arrived
    a_before = sim.tally("serving/a").arrived
    for _ in range(5):
        sim.step()
    assert sim.tally("serving/b").arrived == b_before
    assert sim.tally("serving/a").arrived - a_before > 5 * 60 * 0.01 * 150  # a's plus b's load
    assert sim.snapshot().deployment("serving/b").replica_states == ()  # type: ignore[union-attr]


def test_retired_model_drops_its_later_arrivals(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec())
    sim.step()
    served = sim.tally(KEY).served
    assert sim.execute(RetireModel(issued_at=sim.now, deployment=KEY)).status == "applied"
    for _ in range(3):
        sim.step()
    tally = sim.tally(KEY)
    assert tally.served == served
    assert tally.arrived == tally.served + tally.dropped
    assert sim.snapshot().deployments[0].retired


def test_cordoned_node_takes_no_new_replicas(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=0)], groups=[node_group(count=2)]))
    sim.execute(CordonNode(issued_at=sim.now, node="h100-0"))
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=2))
    sim.step()
    snap = sim.snapshot()
    assert {r.node for r in snap.deployments[0].replica_states} == {"h100-1"}
    assert snap.node("h100-0").cordoned  # type: ignore[union-attr]


def test_repeated_action_id_is_a_duplicate_and_changes_nothing(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=1)]))
    action = PrewarmReplicas(issued_at=sim.now, deployment=KEY, count=1)
    assert sim.execute(action).status is ResultStatus.APPLIED
    assert sim.execute(action).status is ResultStatus.DUPLICATE
    assert sim.snapshot().deployments[0].replicas == 2


def test_dry_run_changes_nothing(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec(models=[model(replicas=1)]))
    before = sim.checkpoint()
    action = ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=5)
    assert sim.execute(action, dry_run=True).status is ResultStatus.DRY_RUN
    assert sim.checkpoint() == before
    assert sim.execute(action).status is ResultStatus.APPLIED  # the id was not used up


def test_unknown_targets_fail_and_name_the_known_ones(make_spec: SpecFactory) -> None:
    sim = Simulator(make_spec())
    scale = sim.execute(ScaleDeployment(issued_at=sim.now, deployment="x/y", replicas=1))
    cordon = sim.execute(CordonNode(issued_at=sim.now, node="gone-9"))
    assert scale.status is cordon.status is ResultStatus.FAILED
    assert "'x/y'" in scale.message and KEY in scale.message
    assert "'gone-9'" in cordon.message and "h100-0" in cordon.message
