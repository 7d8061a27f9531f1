"""Merging LoRA fine-tunes into their base model's runtime in the simulator: their
requests go to it (each still answered by its adapter), they drain to zero, and the
runtime pays the multi-adapter overhead."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusteward.core.actions import MergeAdapters, ScaleDeployment, UnmergeAdapters
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import ModelSpec
from tests.sim.conftest import model, node_group, sim_spec, write_total_trace

BASE, FT_A, FT_B = "serving/base", "serving/ft-a", "serving/ft-b"


def _models(tmp_path: Path) -> list[ModelSpec]:
    trace = write_total_trace(tmp_path / "flat.csv", [1.0] * 12)
    common: dict[str, object] = dict(
        trace=trace,
        cold_start_seconds=0,
        request_seconds=10.0,
        max_request_seconds=40.0,
        termination_grace_seconds=60.0,
        trace_kw={"scale": 1.0},
    )
    return [
        model("base", model="assist-8b", replicas=2, **common),
        model("ft-a", model="assist-8b", version="ft-a", replicas=1, **common),
        model("ft-b", model="assist-8b", version="ft-b", replicas=1, **common),
        model("other", model="chat-70b", replicas=1, **common),
    ]


def _sim(tmp_path: Path) -> Simulator:
    sim = Simulator(sim_spec(models=_models(tmp_path), groups=[node_group(gpus_per_node=8)]))
    for _ in range(3):
        sim.step()
    return sim


def _merge(
    sim: Simulator, *sources: str, into: str = BASE, base: str = "assist-8b"
) -> MergeAdapters:
    return MergeAdapters(base_model=base, sources=sources, into=into, issued_at=sim.now)


def test_merged_fine_tunes_are_served_by_the_runtime_and_drain_to_zero(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    result = sim.execute(_merge(sim, FT_A, FT_B))
    assert result.status is ResultStatus.APPLIED, result.message
    before = sim.tally(BASE).arrived
    sim.snapshot()  # the metrics from here on
    for _ in range(3):
        sim.step()
    snap = sim.snapshot()
    base, ft_a = snap.deployment(BASE), snap.deployment(FT_A)
    assert base is not None and ft_a is not None
    assert base.adapters == (FT_A, FT_B)
    assert ft_a.routed_to == BASE and ft_a.replicas == 0 and ft_a.replica_states == ()
    arrived = sim.tally(BASE).arrived - before
    assert arrived == pytest.approx(3 * 3 * 60, rel=0.25)  # its own load and two more
    # the router counts each adapter's requests: its metrics show them, its tally does not
    assert snap.metrics[FT_A].arrival_rate_rps == pytest.approx(1.0, rel=0.35)
    assert snap.metrics[FT_A].served_rate_rps == 0.0 and snap.metrics[FT_A].capacity_rps == 0.0
    assert sim.tally(FT_A).dropped_on_removal == sim.tally(FT_B).dropped_on_removal == 0


def test_a_multi_adapter_runtime_serves_less_per_replica(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    sim.snapshot()
    sim.step()
    alone = sim.snapshot().metrics[BASE].capacity_rps
    sim.execute(_merge(sim, FT_A))
    sim.step()
    merged = sim.snapshot().metrics[BASE].capacity_rps
    assert merged == pytest.approx(alone * (1 - 0.15))


@pytest.mark.parametrize(
    "sources,into,base,message",
    [
        ((FT_A,), "serving/other", "assist-8b", "serves model 'chat-70b'"),
        (("serving/other",), BASE, "assist-8b", "serves model 'chat-70b'"),
        ((FT_A,), BASE, "chat-70b", "not 'chat-70b'"),
    ],
)
def test_only_fine_tunes_of_the_runtime_s_base_model_merge(
    tmp_path: Path, sources: tuple[str, ...], into: str, base: str, message: str
) -> None:
    sim = _sim(tmp_path)
    result = sim.execute(_merge(sim, *sources, into=into, base=base))
    assert result.status is ResultStatus.FAILED and message in result.message


def test_a_runtime_at_zero_takes_no_adapters_and_a_dry_run_changes_nothing(
    tmp_path: Path,
) -> None:
    sim = _sim(tmp_path)
    dry = sim.execute(_merge(sim, FT_A), dry_run=True)
    assert dry.status is ResultStatus.DRY_RUN
    sim.step()
    assert sim.snapshot().deployment(FT_A).routed_to is None  # type: ignore[union-attr]
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=BASE, replicas=0))
    result = sim.execute(_merge(sim, FT_B))
    assert result.status is ResultStatus.FAILED and "zero replicas" in result.message


def _unmerge(sim: Simulator, *sources: str, runtime: str = BASE) -> UnmergeAdapters:
    return UnmergeAdapters(
        base_model="assist-8b", sources=sources, runtime=runtime, issued_at=sim.now
    )


def test_an_unmerged_fine_tune_gets_its_requests_back_and_holds_them_while_it_wakes(
    tmp_path: Path,
) -> None:
    sim = _sim(tmp_path)
    sim.execute(_merge(sim, FT_A, FT_B))
    for _ in range(2):
        sim.step()
    result = sim.execute(_unmerge(sim, FT_A))
    assert result.status is ResultStatus.APPLIED, result.message
    snap = sim.snapshot()
    base, ft_a, ft_b = snap.deployment(BASE), snap.deployment(FT_A), snap.deployment(FT_B)
    assert base is not None and ft_a is not None and ft_b is not None
    assert base.adapters == (FT_B,) and ft_b.routed_to == BASE
    assert ft_a.routed_to is None and ft_a.replicas == 0
    own, runtime = sim.tally(FT_A).arrived, sim.tally(BASE).arrived
    for _ in range(3):
        sim.step()
    assert sim.tally(FT_A).arrived - own == pytest.approx(3 * 60, rel=0.35)  # its own again
    assert sim.tally(BASE).arrived - runtime == pytest.approx(2 * 3 * 60, rel=0.3)
    assert sim.tally(FT_A).dropped == 0  # held while parked at zero, not dropped
    woken = sim.execute(ScaleDeployment(issued_at=sim.now, deployment=FT_A, replicas=1))
    assert woken.status is ResultStatus.APPLIED
    for _ in range(3):
        sim.step()
    assert sim.tally(FT_A).served > 0 and sim.tally(FT_A).dropped == 0


def test_only_an_adapter_the_runtime_serves_is_unmerged(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    sim.execute(_merge(sim, FT_A))
    result = sim.execute(_unmerge(sim, FT_B))
    assert result.status is ResultStatus.FAILED
    assert "does not serve serving/ft-b" in result.message and "serving/ft-a" in result.message
    dry = sim.execute(_unmerge(sim, FT_A), dry_run=True)
    assert dry.status is ResultStatus.DRY_RUN
    assert sim.snapshot().deployment(FT_A).routed_to == BASE  # type: ignore[union-attr]


def test_a_fine_tune_merged_while_it_wakes_leaves_no_wake_open(tmp_path: Path) -> None:
    """Requests held at zero for a replica still loading go to the runtime with the merge:
    they are served there, and the wake no one waits for any more is not left open (left
    open, the next wake, hours later, would close it with hours of latency)."""
    models = _models(tmp_path)
    models[1] = models[1].model_copy(update={"cold_start_seconds": 600.0})  # ft-a
    sim = Simulator(sim_spec(models=models, groups=[node_group(gpus_per_node=8)]))
    sim.step()
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=FT_A, replicas=0))
    for _ in range(3):
        sim.step()  # drained to zero, then requests held
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment=FT_A, replicas=1))
    sim.step()  # its replica is loading, the requests still held
    assert sim.wakes(FT_A).open is not None and sim.wakes(FT_A).open.first_request is not None
    held = sim.snapshot().metrics[FT_A].queue_depth
    assert held > 0
    arrived, dropped = sim.tally(BASE).arrived, sim.tally(FT_A).dropped
    assert sim.execute(_merge(sim, FT_A)).status is ResultStatus.APPLIED
    assert sim.tally(BASE).arrived - arrived == held  # the held requests are the runtime's
    assert sim.wakes(FT_A).open is None
    sim.step()
    assert sim.wakes(FT_A).done == [] and sim.tally(FT_A).dropped == dropped


def test_a_fine_tune_started_before_its_unmerge_takes_its_requests_at_once(
    tmp_path: Path,
) -> None:
    """Make-before-break: ft-a is scaled up while still merged (the runtime serves its
    requests meanwhile); unmerged once its replica is Ready, it keeps that replica, serves
    its own requests from the next step, holds none, and no wake is counted."""
    models = _models(tmp_path)
    models[1] = models[1].model_copy(update={"cold_start_seconds": 120.0})  # ft-a
    sim = Simulator(sim_spec(models=models, groups=[node_group(gpus_per_node=8)]))
    for _ in range(4):
        sim.step()
    sim.execute(_merge(sim, FT_A))
    for _ in range(3):
        sim.step()  # drained to zero while merged
    started = sim.execute(ScaleDeployment(issued_at=sim.now, deployment=FT_A, replicas=1))
    assert started.status is ResultStatus.APPLIED, started.message
    runtime = sim.tally(BASE).arrived
    for _ in range(3):
        sim.step()  # its replica loads (120 s); the runtime serves its requests
    assert sim.tally(BASE).arrived - runtime == pytest.approx(2 * 3 * 60, rel=0.3)
    ft_a = sim.snapshot().deployment(FT_A)
    assert ft_a is not None and ft_a.routed_to == BASE and ft_a.count(ReplicaPhase.READY) == 1
    assert sim.execute(_unmerge(sim, FT_A)).status is ResultStatus.APPLIED
    own, dropped = sim.tally(FT_A).arrived, sim.tally(FT_A).dropped
    for _ in range(3):
        sim.step()
    assert sim.tally(FT_A).arrived - own == pytest.approx(3 * 60, rel=0.35)
    assert sim.snapshot().metrics[FT_A].queue_depth == 0  # served, none held
    assert sim.tally(FT_A).dropped == dropped
    assert sim.wakes(FT_A).open is None and sim.wakes(FT_A).done == []
    assert sim.snapshot().deployment(FT_A).replicas == 1  # type: ignore[union-attr]
