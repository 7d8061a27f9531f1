"""The tick loop: stages in order, failures contained, actions run at most once."""

import asyncio
from datetime import UTC, datetime, timedelta

from forecasting.baselines import LastValueForecaster
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.core.actions import Proposal, RetireModel, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.tick import Stage
from gpusteward.core.verdicts import ResultStatus
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import (
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    ScriptedPlanner,
    StaticPlanner,
    make_snapshot,
)
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

T0 = datetime(2026, 11, 2, tzinfo=UTC)
DEFAULT_PACK = PACKS_DIR / "default.yaml"


def default_policy() -> RulePolicyEngine:
    return RulePolicyEngine(load_policy(DEFAULT_PACK.read_text(), str(DEFAULT_PACK)))


LLM = "default/llm-chat"


def _scale(n: int, at: datetime = T0) -> Proposal:
    return Proposal(action=ScaleDeployment(deployment=LLM, replicas=n, issued_at=at), reason="t")


def _daemon(
    planner,
    *,
    source=None,
    journal=None,
    executor=None,
    policy=None,
    approvals=None,
    dry_run=False,
    clock=None,
):  # type: ignore[no-untyped-def]
    clock = clock or VirtualClock(T0)
    return Daemon(
        source=source or FakeClusterSource(make_snapshot(at=T0)),
        executor=executor or RecordingExecutor(),
        forecaster=LastValueForecaster(),
        planner=planner,
        policy=policy or default_policy(),
        approvals=approvals or InMemoryApprovalGate(),
        journal=journal or InMemoryJournal(),
        clock=clock,
        config=DaemonConfig(interval_seconds=60, dry_run=dry_run, offload_blocking_calls=False),
    )


def test_one_tick_records_snapshot_forecasts_proposals_verdicts_and_results() -> None:
    journal, executor = InMemoryJournal(), RecordingExecutor()
    d = _daemon(StaticPlanner([_scale(3)]), journal=journal, executor=executor)
    asyncio.run(d.run(once=True))
    (record,) = journal.tail(1)
    assert record.snapshot is not None and record.forecasts
    assert [v.decision for v in record.verdicts] == ["allow"]
    assert [r.status for r in record.results] == [ResultStatus.APPLIED]
    assert [a.id for a in executor.executed] == [record.proposals[0].action.id]


def test_a_failing_observation_is_recorded_and_the_next_tick_still_runs() -> None:
    source = FakeClusterSource(make_snapshot(at=T0))
    source.fail_next(1)
    journal = InMemoryJournal()
    d = _daemon(StaticPlanner([]), source=source, journal=journal)
    asyncio.run(d.tick())
    asyncio.run(d.tick())
    first, second = journal.tail(2)
    assert first.snapshot is None and first.errors[0].stage == Stage.OBSERVE
    assert second.snapshot is not None and not second.errors


def test_a_planner_that_raises_does_not_stop_the_daemon() -> None:
    journal = InMemoryJournal()
    planner = ScriptedPlanner([RuntimeError("LLM said nonsense"), [_scale(3)]])
    d = _daemon(planner, journal=journal)
    asyncio.run(d.tick())
    asyncio.run(d.tick())
    first, second = journal.tail(2)
    assert first.errors[0].stage == Stage.PLAN and "nonsense" in first.errors[0].message
    assert [r.status for r in second.results] == [ResultStatus.APPLIED]


def test_a_guard_that_raises_denies_everything_that_tick() -> None:
    class Broken:
        version = "broken"

        def evaluate(self, proposals, snapshot, inputs=None):  # type: ignore[no-untyped-def]
            raise ZeroDivisionError("rule bug")

    executor = RecordingExecutor()
    journal = InMemoryJournal()
    d = _daemon(StaticPlanner([_scale(3)]), policy=Broken(), executor=executor, journal=journal)
    asyncio.run(d.tick())
    (record,) = journal.tail(1)
    assert [v.decision for v in record.verdicts] == ["deny"]
    assert executor.executed == []


def test_an_action_id_is_never_executed_twice_even_after_a_restart() -> None:
    journal, executor = InMemoryJournal(), RecordingExecutor()
    same = _scale(3)
    asyncio.run(_daemon(StaticPlanner([same]), journal=journal, executor=executor).tick())
    # a new daemon over the same journal (a restart) is offered the same action again
    again = _daemon(StaticPlanner([same]), journal=journal, executor=RecordingExecutor())
    asyncio.run(again.tick())
    assert [r.status for r in journal.tail(1)[0].results] == [ResultStatus.DUPLICATE]
    assert len(executor.executed) == 1


def test_dry_run_changes_nothing() -> None:
    executor = RecordingExecutor()
    d = _daemon(StaticPlanner([_scale(3)]), executor=executor, dry_run=True)
    asyncio.run(d.tick())
    assert executor.executed == [] and len(executor.dry_runs) == 1


def test_needs_approval_waits_and_runs_only_once_approved() -> None:
    retire = Proposal(action=RetireModel(deployment=LLM, issued_at=T0), reason="idle 30 days")
    gate, executor, journal = InMemoryApprovalGate(), RecordingExecutor(), InMemoryJournal()
    d = _daemon(ScriptedPlanner([[retire], []]), approvals=gate, executor=executor, journal=journal)
    asyncio.run(d.tick())
    assert executor.executed == [] and len(gate.pending(T0)) == 1
    gate.decide(retire.action.id, approve=True, by="alice", now=T0)
    asyncio.run(d.tick())
    assert [a.id for a in executor.executed] == [retire.action.id]


def test_the_loop_stops_at_the_end_time_of_a_simulated_run() -> None:
    clock = VirtualClock(T0)
    source = FakeClusterSource(make_snapshot(at=T0))
    journal = InMemoryJournal()
    d = Daemon(
        source=source,
        executor=RecordingExecutor(),
        forecaster=LastValueForecaster(),
        planner=StaticPlanner([]),
        policy=default_policy(),
        approvals=InMemoryApprovalGate(),
        journal=journal,
        clock=clock,
        config=DaemonConfig(
            interval_seconds=60, end=T0 + timedelta(minutes=10), offload_blocking_calls=False
        ),
    )
    stats = asyncio.run(d.run(tick_first=False))
    assert stats.ticks == 10 and journal.count() == 10
    assert clock.now() == T0 + timedelta(minutes=10)


def test_request_stop_finishes_the_current_tick_and_returns() -> None:
    clock = VirtualClock(T0)
    d = _daemon(StaticPlanner([]), clock=clock)

    async def main() -> int:
        task = asyncio.create_task(d.run())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        d.request_stop("test")
        stats = await task
        return stats.ticks

    assert asyncio.run(main()) >= 1
