"""Moving one replica to a named node: start new first, stop old when the new one is Ready."""

from __future__ import annotations

from pathlib import Path

from gpusteward.core.actions import MoveReplica, ScaleDeployment
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.engine import Simulator
from tests.sim.conftest import model, node_group, sim_spec, write_total_trace

KEY = "serving/m"


def _sim(tmp_path: Path, replicas: int = 2, cold_start: float = 150.0) -> Simulator:
    trace = write_total_trace(tmp_path / "t.csv", [100.0])
    spec = sim_spec(
        models=[model(trace=trace, replicas=replicas, cold_start_seconds=cold_start)],
        groups=[node_group("h100", count=2, gpus_per_node=4)],
    )
    sim = Simulator(spec)
    for _ in range(4):  # every replica Ready, packed onto h100-0
        sim.step()
    return sim


def _where(sim: Simulator) -> dict[str, tuple[str | None, ReplicaPhase]]:
    (d,) = sim.snapshot().deployments
    return {r.id: (r.node, r.phase) for r in d.replica_states}


def test_a_move_starts_the_new_replica_first_and_stops_the_old_one_once_it_is_ready(
    tmp_path: Path,
) -> None:
    sim = _sim(tmp_path)
    assert _where(sim) == {
        "m-0": ("h100-0", ReplicaPhase.READY),
        "m-1": ("h100-0", ReplicaPhase.READY),
    }
    move = MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-1", to_node="h100-1")
    result = sim.execute(move)
    assert result.status is ResultStatus.APPLIED, result.message
    assert _where(sim)["m-2"] == ("h100-1", ReplicaPhase.LOADING)
    ready_seen = []
    for _ in range(5):
        sim.step()
        ready_seen.append(sim.phase_counts(KEY)[ReplicaPhase.READY])
        assert sim.snapshot().deployments[0].replicas == 2  # desired never changes
    assert min(ready_seen) >= 2  # never a capacity dip
    assert _where(sim) == {
        "m-0": ("h100-0", ReplicaPhase.READY),
        "m-2": ("h100-1", ReplicaPhase.READY),
    }
    h100_0 = sim.snapshot().node("h100-0")
    assert h100_0 is not None and h100_0.free_gpus() == 3


def test_a_move_onto_a_node_without_free_gpus_fails_and_changes_nothing(tmp_path: Path) -> None:
    sim = _sim(tmp_path, replicas=5)  # h100-0 full, one replica on h100-1
    before = _where(sim)
    on_1 = next(r for r, (node, _) in before.items() if node == "h100-1")
    move = MoveReplica(issued_at=sim.now, deployment=KEY, replica=on_1, to_node="h100-0")
    result = sim.execute(move)
    assert result.status is ResultStatus.FAILED
    assert "0 free healthy GPU(s)" in result.message and "no capacity dip" in result.message
    sim.step()
    assert _where(sim) == before


def test_a_move_naming_an_unknown_node_or_replica_fails_with_the_known_ones(
    tmp_path: Path,
) -> None:
    sim = _sim(tmp_path)
    node = sim.execute(MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-0", to_node="x"))
    assert node.status is ResultStatus.FAILED and "known nodes: h100-0, h100-1" in node.message
    rep = sim.execute(
        MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-9", to_node="h100-1")
    )
    assert rep.status is ResultStatus.FAILED and "its replicas: m-0, m-1" in rep.message


def test_a_dry_run_move_reserves_nothing(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    move = MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-0", to_node="h100-1")
    assert sim.execute(move, dry_run=True).status is ResultStatus.DRY_RUN
    h100_1 = sim.snapshot().node("h100-1")
    assert h100_1 is not None and h100_1.free_gpus() == 4


def test_scaling_down_during_a_move_cancels_it_and_keeps_the_desired_count(
    tmp_path: Path,
) -> None:
    sim = _sim(tmp_path)
    sim.execute(MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-1", to_node="h100-1"))
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=KEY, replicas=1))
    for _ in range(5):
        sim.step()
    assert list(_where(sim)) == ["m-0"]
    assert sim.phase_counts(KEY)[ReplicaPhase.READY] == 1


def test_a_checkpoint_taken_mid_move_resumes_the_move(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    sim.execute(MoveReplica(issued_at=sim.now, deployment=KEY, replica="m-1", to_node="h100-1"))
    sim.step()
    resumed = Simulator.restore(sim.spec, sim.checkpoint())
    for _ in range(4):
        resumed.step()
    assert set(_where(resumed)) == {"m-0", "m-2"}
