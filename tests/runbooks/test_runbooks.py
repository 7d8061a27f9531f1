"""The shipped runbooks: each validates and dry-runs with a verdict per step; each runs on
the simulator end to end through the guard and the approval path, and rolls back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpusteward.app.parts import load_policy_file
from gpusteward.app.replay_setup import SimRunbookTarget
from gpusteward.app.scenario import load_scenario
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError
from gpusteward.core.verdicts import ResultStatus
from gpusteward.sim.engine import Simulator
from runbooks.model import Runbook, load_library, load_runbook
from runbooks.runner import RunbookRun, dry_run, start

LIBRARY = load_library()
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    scenario: str
    hours: float
    params: dict[str, str] = field(default_factory=dict)


CASES = {
    "prewarm-before-launch": Case(
        "incident-model-sprawl", 1, {"deployment": "serving/chat-mid-v2"}
    ),
    "evacuate-unhealthy-gpu": Case(
        "incident-gpu-failure", 6, {"node": "h100-0", "deployment": "serving/m-mid"}
    ),
    "spot-preemption-failover": Case("quickstart", 31, {"deployment": "serving/m-large"}),
    "consolidate-underused-pool": Case(
        "incident-model-sprawl",
        1,
        {"pool": "cloud", "deployment": "serving/chat-v1", "replicas": "1", "node": "a100-1"},
    ),
    "retire-stale-variant": Case("incident-model-sprawl", 1, {"deployment": "serving/chat-v2"}),
}


def test_the_library_ships_the_five_runbooks_the_issue_names() -> None:
    assert set(LIBRARY) == set(CASES)


def _target(case: Case) -> tuple[SimRunbookTarget, object]:
    scenario = load_scenario(case.scenario)
    sim = Simulator(scenario.sim_spec())
    sim.advance_to(sim.now + timedelta(hours=case.hours))
    return SimRunbookTarget(sim), load_policy_file(Path(scenario.policy))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_runbook_dry_runs_with_a_verdict_per_step_and_changes_nothing(name: str) -> None:
    target, policy = _target(CASES[name])
    before = target.simulator.checkpoint()
    steps = dry_run(
        LIBRARY[name], CASES[name].params, target.snapshot(), target.guard_inputs(), policy
    )  # type: ignore[arg-type]
    assert [s.step for s in steps] == [s.id for s in LIBRARY[name].steps]
    assert all(s.decision in ("allow", "needs_approval") and s.action for s in steps), steps
    assert all(s.preconditions_hold for s in steps), steps
    assert all(s.rollback for s in steps)
    assert target.simulator.checkpoint() == before  # nothing ran


@pytest.mark.parametrize("name", sorted(CASES))
def test_runbook_run_dry_run_command_prints_every_step_verdict(name: str) -> None:
    case = CASES[name]
    args = [
        "runbook",
        "run",
        name,
        "--dry-run",
        "--scenario",
        case.scenario,
        "--at",
        f"{case.hours}h",
    ]
    for k, v in case.params.items():
        args += ["--param", f"{k}={v}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for step in LIBRARY[name].steps:
        assert step.id in result.output
    assert "nothing runs" in result.output


def _drive(run: RunbookRun, gate: InMemoryApprovalGate, *, approve: bool = True) -> str:
    status = run.advance()
    for _ in range(10):
        if status != "waiting_approval":
            return status
        assert run.waiting is not None
        gate.decide(run.waiting.id, approve=approve, by="alice", now=run.target.snapshot().at)
        status = run.advance()
    raise AssertionError("the runbook kept waiting")


def _state(target: SimRunbookTarget, keys: list[str], nodes: list[str]) -> tuple[object, ...]:
    snap = target.snapshot()
    return tuple(
        [(k, snap.deployment(k).replicas, snap.deployment(k).pools) for k in keys]  # type: ignore[union-attr]
        + [(n, snap.node(n).cordoned) for n in nodes]  # type: ignore[union-attr]
    )


REVERSIBLE = sorted(set(CASES) - {"retire-stale-variant"})


@pytest.mark.parametrize("name", REVERSIBLE)
def test_each_runbook_runs_end_to_end_on_the_simulator_and_rolls_back(name: str) -> None:
    case = CASES[name]
    target, policy = _target(case)
    keys = [v for k, v in case.params.items() if k == "deployment"]
    nodes = [v for k, v in case.params.items() if k == "node"]
    before = _state(target, keys, nodes)
    gate = InMemoryApprovalGate()
    run = start(LIBRARY[name], case.params, target=target, policy=policy, approvals=gate)  # type: ignore[arg-type]
    assert _drive(run, gate) == "succeeded", [e.detail for e in run.events]
    verified = [e for e in run.events if e.phase == "verify"]
    assert len(verified) == len(LIBRARY[name].steps) and all(e.ok for e in verified)
    assert _state(target, keys, nodes) != before
    executed = len(target.results)
    run.rollback("operator asked")
    assert _drive(run, gate) == "rolled_back", [e.detail for e in run.events]
    rolled = [
        e
        for e in run.events
        if e.phase == "rollback" and e.detail.startswith(("scale", "uncordon", "move"))
    ]
    assert len(rolled) == len(LIBRARY[name].steps)
    assert all(r.status == ResultStatus.APPLIED for r in target.results[executed:])
    if name != "spot-preemption-failover":  # its rollback moves back to spot, not to "any pool"
        assert _state(target, keys, nodes) == before


def test_retire_runs_with_approval_and_a_rejection_rolls_the_shrink_back() -> None:
    case = CASES["retire-stale-variant"]
    key = case.params["deployment"]
    target, policy = _target(case)
    replicas = target.snapshot().deployment(key).replicas  # type: ignore[union-attr]
    gate = InMemoryApprovalGate()
    rejected = start(
        LIBRARY["retire-stale-variant"], case.params, target=target, policy=policy, approvals=gate
    )  # type: ignore[arg-type]
    assert _drive(rejected, gate, approve=False) == "rolled_back"
    assert "rejected" in (rejected.failure or "")
    snap = target.snapshot().deployment(key)
    assert snap is not None and snap.replicas == replicas and not snap.retired
    approved = start(
        LIBRARY["retire-stale-variant"], case.params, target=target, policy=policy, approvals=gate
    )  # type: ignore[arg-type]
    assert _drive(approved, gate) == "succeeded"
    assert target.snapshot().deployment(key).retired  # type: ignore[union-attr]
    groups = {e.detail for e in approved.events if e.phase == "approval"}
    assert any("ml-platform" in g for g in groups)  # the policy's approver group for retire


def test_a_failed_verification_rolls_back_automatically(tmp_path: Path) -> None:
    case = CASES["prewarm-before-launch"]
    target, policy = _target(case)
    key = case.params["deployment"]
    replicas = target.snapshot().deployment(key).replicas  # type: ignore[union-attr]
    text = (ROOT / "runbooks/library/prewarm-before-launch.yaml").read_text()
    impossible = tmp_path / "prewarm-before-launch.yaml"  # 10 more ready than it starts
    impossible.write_text(text.replace("{replicas_before + count}", "{replicas_before + 12}"))
    gate = InMemoryApprovalGate()
    run = start(load_runbook(impossible), case.params, target=target, policy=policy, approvals=gate)  # type: ignore[arg-type]
    assert _drive(run, gate) == "rolled_back"
    assert "verification did not hold within 15m" in (run.failure or "")
    assert target.snapshot().deployment(key).replicas == replicas  # type: ignore[union-attr]


def test_a_denied_step_stops_the_run_before_anything_executes() -> None:
    case = CASES["consolidate-underused-pool"]
    target, policy = _target(case)
    gate = InMemoryApprovalGate()
    params = {**case.params, "deployment": "serving/chat-v3", "replicas": "0"}  # below min
    run = start(
        LIBRARY["consolidate-underused-pool"], params, target=target, policy=policy, approvals=gate
    )  # type: ignore[arg-type]
    assert _drive(run, gate) == "failed"
    assert "replica-bounds" in (run.failure or "") and target.results == []


def test_a_runbook_with_an_unknown_template_name_is_rejected(tmp_path: Path) -> None:
    text = (ROOT / "runbooks/library/prewarm-before-launch.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('"{count}"', '"{cuont}"'))
    with pytest.raises(InputError, match="cuont"):
        load_runbook(bad)


def test_every_runbook_step_is_a_proposal_tool_call() -> None:
    for rb in LIBRARY.values():
        assert isinstance(rb, Runbook)
        for step in rb.steps:
            assert step.call.tool.startswith("propose_")
