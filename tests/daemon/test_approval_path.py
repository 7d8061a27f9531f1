"""The daemon's approval path: what is allowed runs at once, what needs a human waits for
the gate (only the gate's approval runs it), and an approved action is judged again on
the tick's fresh snapshot before it runs, at most once, across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from forecasting.baselines import LastValueForecaster
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.core.actions import Proposal, RetireModel, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.ports import ApprovalGate, GuardInputs, Planner, PolicyEngine
from gpusteward.core.tick import Stage, TickRecord
from gpusteward.core.verdicts import Deny, NeedsApproval, ResultStatus, RuleHit, Verdict
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import (
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    StaticPlanner,
    make_snapshot,
)
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

T0 = datetime(2026, 11, 2, tzinfo=UTC)
LLM = "default/llm-chat"
SCALE = Proposal(
    action=ScaleDeployment(deployment=LLM, replicas=3, issued_at=T0), reason="queue growing"
)
RETIRE = Proposal(action=RetireModel(deployment=LLM, issued_at=T0), reason="idle 30 days")


def default_policy() -> RulePolicyEngine:
    path = PACKS_DIR / "default.yaml"
    return RulePolicyEngine(load_policy(path.read_text(), str(path)))


class Switchable:
    """The default policy until `now_denies` or `now_fails` is set; its version stays, so
    an approval is not stale: only the guard's verdict changes."""

    def __init__(self) -> None:
        self.inner = default_policy()
        self.version = self.inner.version
        self.now_denies = False
        self.now_fails = False

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        if self.now_fails:
            raise ZeroDivisionError("rule bug")
        if self.now_denies:
            hit = RuleHit(rule="change-freeze", reason="a change freeze began")
            return [
                Deny(action_id=p.action.id, policy_version=self.version, rules=(hit,))
                for p in proposals
            ]
        return self.inner.evaluate(proposals, snapshot, inputs)


def daemon(
    planner: Planner,
    approvals: ApprovalGate,
    *,
    journal: InMemoryJournal | None = None,
    executor: RecordingExecutor | None = None,
    policy: PolicyEngine | None = None,
) -> Daemon:
    return Daemon(
        source=FakeClusterSource(make_snapshot(at=T0, load=0.0)),  # LLM idle, as RETIRE says
        executor=executor or RecordingExecutor(),
        forecaster=LastValueForecaster(),
        planner=planner,
        policy=policy or default_policy(),
        approvals=approvals,
        journal=journal or InMemoryJournal(),
        clock=VirtualClock(T0),
        config=DaemonConfig(interval_seconds=60, offload_blocking_calls=False),
    )


def tick(d: Daemon) -> TickRecord:
    return asyncio.run(d.tick())


def test_an_allowed_action_runs_at_once_while_the_one_needing_a_human_waits() -> None:
    gate, executor = InMemoryApprovalGate(), RecordingExecutor()
    record = tick(daemon(StaticPlanner([SCALE, RETIRE]), gate, executor=executor))
    assert [v.decision for v in record.verdicts] == ["allow", "needs_approval"]
    assert [a.id for a in executor.executed] == [SCALE.action.id]
    assert [r.id for r in record.approvals] == [RETIRE.action.id]
    assert [r.id for r in gate.pending(T0)] == [RETIRE.action.id]


def test_proposing_an_action_again_and_again_never_approves_it_only_the_gate_does() -> None:
    gate, executor = InMemoryApprovalGate(), RecordingExecutor()
    d = daemon(StaticPlanner([RETIRE]), gate, executor=executor)
    for _ in range(3):  # the planner insists; nobody has answered
        tick(d)
    assert executor.executed == [] and len(gate.pending(T0)) == 1
    gate.decide(RETIRE.action.id, approve=True, by="alice", now=T0)
    tick(d)
    assert [a.id for a in executor.executed] == [RETIRE.action.id]


def test_a_rejected_request_never_runs() -> None:
    gate, executor = InMemoryApprovalGate(), RecordingExecutor()
    d = daemon(StaticPlanner([RETIRE]), gate, executor=executor)
    tick(d)
    gate.decide(RETIRE.action.id, approve=False, by="bob", now=T0)
    for _ in range(2):
        record = tick(d)
        assert record.results == ()
    assert executor.executed == []


def test_an_approval_given_while_the_daemon_was_down_runs_after_the_restart(
    tmp_path: Path,
) -> None:
    journal, executor = InMemoryJournal(), RecordingExecutor()
    before = SqliteApprovalStore(tmp_path / "approvals.sqlite")
    tick(daemon(StaticPlanner([RETIRE]), before, journal=journal, executor=executor))
    before.close()  # the daemon stops; a person approves in the chat meanwhile
    with_chat = SqliteApprovalStore(tmp_path / "approvals.sqlite")
    with_chat.decide(RETIRE.action.id, approve=True, by="alice", channel="web", now=T0)
    with_chat.close()
    after = SqliteApprovalStore(tmp_path / "approvals.sqlite")
    record = tick(daemon(StaticPlanner([]), after, journal=journal, executor=executor))
    after.close()
    assert [(r.action_id, r.status) for r in record.results] == [
        (RETIRE.action.id, ResultStatus.APPLIED)
    ]
    assert [a.id for a in executor.executed] == [RETIRE.action.id]


def test_an_approved_action_the_journal_shows_executed_is_not_run_again() -> None:
    journal, first = InMemoryJournal(), RecordingExecutor()
    gate = InMemoryApprovalGate()
    d = daemon(StaticPlanner([RETIRE]), gate, journal=journal, executor=first)
    (asked,) = tick(d).verdicts
    assert isinstance(asked, NeedsApproval)
    gate.decide(RETIRE.action.id, approve=True, by="alice", now=T0)
    tick(d)
    assert [a.id for a in first.executed] == [RETIRE.action.id]
    # A restart before the approval was settled: the gate hands the approval out again.
    again = InMemoryApprovalGate()
    again.submit(RETIRE, asked, T0)
    again.decide(RETIRE.action.id, approve=True, by="alice", now=T0)
    second = RecordingExecutor()
    record = tick(daemon(StaticPlanner([]), again, journal=journal, executor=second))
    assert [(r.action_id, r.status) for r in record.results] == [
        (RETIRE.action.id, ResultStatus.DUPLICATE)
    ]
    assert second.executed == []


def test_an_approved_action_the_policy_now_denies_is_superseded_not_run() -> None:
    gate, executor, policy = InMemoryApprovalGate(), RecordingExecutor(), Switchable()
    d = daemon(StaticPlanner([RETIRE]), gate, executor=executor, policy=policy)
    tick(d)
    gate.decide(RETIRE.action.id, approve=True, by="alice", now=T0)
    policy.now_denies = True  # judged again on this tick's snapshot, under the same version
    record = tick(d)
    assert executor.executed == []
    (result,) = record.results
    assert result.status == ResultStatus.SUPERSEDED
    assert result.message.startswith("approved, but the policy now denies it: [change-freeze]")


def test_a_guard_failure_when_rejudging_an_approval_supersedes_it_and_is_recorded() -> None:
    gate, executor, policy = InMemoryApprovalGate(), RecordingExecutor(), Switchable()
    d = daemon(StaticPlanner([RETIRE]), gate, executor=executor, policy=policy)
    tick(d)
    gate.decide(RETIRE.action.id, approve=True, by="alice", now=T0)
    policy.now_fails = True  # fail closed: the approved action does not run
    record = tick(d)
    assert executor.executed == []
    (result,) = record.results
    assert result.status == ResultStatus.SUPERSEDED and "[guard-error]" in result.message
    assert [e.stage for e in record.errors] == [
        Stage.GUARD,
        Stage.GUARD,
    ]  # the plan's, the re-judge's
    assert all(e.error_type == "ZeroDivisionError" for e in record.errors)
