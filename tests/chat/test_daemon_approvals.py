"""The daemon with the durable store: an approved action runs once, after re-validation on
a fresh snapshot; a changed world or policy supersedes it; pausing stops acting only."""

from __future__ import annotations

import asyncio
from pathlib import Path

from forecasting.baselines import LastValueForecaster
from gpusteward.chat.identities import Identities
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.core.approvals import ApprovalState
from gpusteward.core.clock import VirtualClock
from gpusteward.core.verdicts import ResultStatus
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import (
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    StaticPlanner,
    make_deployment,
    make_snapshot,
)
from policies.engine import RulePolicyEngine, load_policy
from tests.chat.conftest import ASK_POLICY, PEOPLE_YAML, T0, FakeDaemonView, scale


class Rig:
    def __init__(self, tmp: Path, policy: str = ASK_POLICY) -> None:
        self.store = SqliteApprovalStore(tmp / "approvals.sqlite")
        self.source = FakeClusterSource(make_snapshot(at=T0))
        self.executor = RecordingExecutor()
        self.journal = InMemoryJournal()
        self.clock = VirtualClock(T0)
        self.planner = StaticPlanner([scale(6)])
        self.daemon = self._daemon(policy)
        view = FakeDaemonView()
        self.service = ApprovalService(
            self.store, Identities.parse(PEOPLE_YAML, "p"), self.clock, view
        )

    def _daemon(self, policy: str) -> Daemon:
        return Daemon(
            source=self.source,
            executor=self.executor,
            forecaster=LastValueForecaster(),
            planner=self.planner,
            policy=RulePolicyEngine(load_policy(policy, "policy.yaml")),
            approvals=self.store,
            journal=self.journal,
            clock=self.clock,
            config=DaemonConfig(interval_seconds=60, offload_blocking_calls=False),
            on_tick=lambda r: self.store.record_results(r.results, r.at),
        )

    def tick(self) -> None:
        asyncio.run(self.daemon.tick())

    def approve(self, request_id: str, who: str = "alice") -> None:
        person = next(p for p in self.service.identities.file.people if p.name == who)
        assert self.service.decide(person, request_id, approve=True, channel="web").ok


def test_an_approved_action_runs_once_on_the_next_tick(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.tick()
    (pending,) = rig.store.pending(T0)
    assert rig.executor.executed == []
    rig.approve(pending.id)
    rig.tick()
    rig.tick()
    assert [a.id for a in rig.executor.executed] == [pending.id]
    done = rig.store.get(pending.id)
    assert done is not None and done.outcome == "applied" and done.decided_by == "alice"


def test_an_approval_for_a_changed_deployment_is_superseded_not_executed(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.tick()
    (pending,) = rig.store.pending(T0)
    rig.approve(pending.id)
    rig.planner.proposals = ()  # the planner has moved on
    rig.source.set(make_snapshot(at=T0, deployments=[make_deployment(replicas=4)]))
    rig.tick()
    assert rig.executor.executed == []
    (result,) = rig.journal.tail(1)[0].results
    assert result.status == ResultStatus.SUPERSEDED and "now wants 4 replicas" in result.message
    done = rig.store.get(pending.id)
    assert done is not None and done.state == ApprovalState.SUPERSEDED


def test_an_approval_under_another_policy_version_is_superseded(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.tick()
    (pending,) = rig.store.pending(T0)
    rig.approve(pending.id)
    rig.planner.proposals = ()
    rig.daemon.policy = RulePolicyEngine(
        load_policy(ASK_POLICY.replace("ask-for-everything", "stricter"), "policy.yaml")
    )
    rig.tick()
    assert rig.executor.executed == []
    assert "policy changed" in rig.journal.tail(1)[0].results[0].message


def test_pausing_stops_acting_but_not_observing_and_resuming_runs_what_waited(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.tick()
    (pending,) = rig.store.pending(T0)
    rig.approve(pending.id)
    rig.daemon.set_paused(True)
    rig.tick()
    record = rig.journal.tail(1)[0]
    assert record.snapshot is not None and record.proposals  # observed and planned
    assert rig.executor.executed == [] and record.results == ()
    rig.daemon.set_paused(False)
    rig.tick()
    assert [a.id for a in rig.executor.executed] == [pending.id]
