"""The daemon diagnoses every tick: warnings are journaled, exported on /metrics (open
ones as a gauge, each opened one counted) and posted to the chat's board."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from forecasting.baselines import LastValueForecaster
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.diagnosis import DiagnosticWarning, RedFlag
from gpusteward.core.ports import GuardInputs
from gpusteward.core.tick import Stage
from gpusteward.core.verdicts import Allow, Verdict
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import (
    T0,
    FakeClusterSource,
    InMemoryJournal,
    RecordingExecutor,
    StaticPlanner,
    make_snapshot,
)


def test_a_spot_wave_is_journaled_exported_and_posted(tmp_path: Path) -> None:
    scenario = load_scenario(
        "redflag-spot-wave"
    )  # every spot node reclaimed at 3 h; 185 ticks: 5 min past it
    run = build_sim_run(scenario, Settings(journal=tmp_path / "j.db"), fresh=True, max_ticks=185)
    asyncio.run(run.daemon.run())
    records = list(run.journal.ticks())
    warned = [w for r in records for w in r.warnings if w.flag is RedFlag.QUEUE_GROWTH]
    after_wave = [w for w in warned if (w.opened_at - scenario.start).total_seconds() >= 10_800]
    assert after_wave, "the queue building after the wave was not warned of"
    assert run.exposition is not None
    metrics = run.exposition.render().decode()
    assert 'gpusteward_warnings_opened_total{flag="queue-growth"}' in metrics
    assert 'gpusteward_warning_active{deployment="serving/m-mid",flag="queue-growth"' in metrics
    assert 'gpusteward_stage_seconds_count{stage="diagnose"} 185.0' in metrics
    assert run.warnings is not None
    posted = [p for p in run.warnings.posts() if p.warning.flag is RedFlag.QUEUE_GROWTH]
    assert posted and posted[0].kind == "opened"
    assert len({p.warning.id for p in posted if p.kind == "opened"}) == len(
        {w.id for w in warned}
    )  # each warning posted once, however many ticks it stayed open
    run.journal.close()


def test_a_failing_diagnosis_is_a_stage_error_and_the_tick_goes_on() -> None:
    def broken(snapshot: ClusterSnapshot, inputs: GuardInputs) -> tuple[DiagnosticWarning, ...]:
        raise RuntimeError("detector bug")

    planner = StaticPlanner([_scale_up()])
    daemon = Daemon(
        source=FakeClusterSource(make_snapshot(at=T0)),
        executor=RecordingExecutor(),
        forecaster=LastValueForecaster(),
        planner=planner,
        policy=_allow_all(),
        approvals=InMemoryApprovalGate(),
        journal=InMemoryJournal(),
        clock=VirtualClock(T0),
        config=DaemonConfig(interval_seconds=60, offload_blocking_calls=False),
        diagnose=broken,
    )
    record = asyncio.run(daemon.tick())
    assert [e.stage for e in record.errors] == [Stage.DIAGNOSE]
    assert "detector bug" in record.errors[0].message
    assert record.warnings == () and len(record.results) == 1  # the action still ran


def _scale_up() -> Proposal:
    action = ScaleDeployment(deployment="default/llm-chat", replicas=3, issued_at=T0)
    return Proposal(action=action, reason="load")


class _AllowAll:
    def __init__(self) -> None:
        self.version = "allow-all"

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        return [Allow(action_id=p.action.id) for p in proposals]


def _allow_all() -> _AllowAll:
    return _AllowAll()
