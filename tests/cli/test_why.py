"""`gpusteward why ACTION_ID` and `gpusteward journal --tail` on a journal written by real
daemon ticks, with the approval store beside it: the ids `journal --tail` prints are the
ones `why` takes, and `why` tells an action's whole life, from the proposing tick to the
tick that ran it after a person approved it in the chat."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecasting.baselines import LastValueForecaster
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.cli import app
from gpusteward.core.actions import Evidence, Proposal, RetireModel
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import InputError
from gpusteward.daemon import Daemon, DaemonConfig
from gpusteward.journal import SqliteJournal
from gpusteward.testing import FakeClusterSource, RecordingExecutor, ScriptedPlanner, make_snapshot
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
RETIRE = Proposal(
    action=RetireModel(deployment="default/llm-chat", issued_at=T0),
    reason="idle for 30 days",
    evidence=(Evidence(name="arrival_rate", value=0.0, unit="req/s"),),
    planner="scripted",
)


class Run:
    """A daemon on a real SQLite journal (j.db) and the approval store beside it."""

    def __init__(self, folder: Path, steps: Sequence[Sequence[Proposal]]) -> None:
        self.journal_path = folder / "j.db"
        self.clock = VirtualClock(T0)
        self.source = FakeClusterSource(make_snapshot(at=T0))
        self.store = SqliteApprovalStore(folder / "j.approvals.sqlite")
        self.journal = SqliteJournal(self.journal_path)
        policy_file = PACKS_DIR / "default.yaml"
        self.daemon = Daemon(
            source=self.source,
            executor=RecordingExecutor(clock=self.clock),
            forecaster=LastValueForecaster(),
            planner=ScriptedPlanner(steps),
            policy=RulePolicyEngine(load_policy(policy_file.read_text(), str(policy_file))),
            approvals=self.store,
            journal=self.journal,
            clock=self.clock,
            config=DaemonConfig(interval_seconds=60, offload_blocking_calls=False),
        )

    def tick(self) -> None:
        """One tick on a snapshot taken now, then what the composition root does after it:
        tell the approval store what its approved actions did."""
        self.source.set(make_snapshot(at=self.clock.now()))
        record = asyncio.run(self.daemon.tick())
        self.store.record_results(record.results, record.at)
        self.clock.advance(60)

    def close(self) -> None:
        self.journal.close()
        self.store.close()


def _why(*args: str) -> str:
    result = CliRunner().invoke(app, ["why", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def _approvals_beside_the_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUSTEWARD_APPROVALS", raising=False)


def test_an_unknown_id_points_to_journal_tail_which_prints_the_ids_why_takes(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, [[RETIRE]])
    run.tick()
    run.close()
    journal = str(run.journal_path)
    tail = CliRunner().invoke(app, ["journal", "--tail", "1", "--journal", journal])
    assert tail.exit_code == 0, tail.output
    assert RETIRE.action.id in tail.output
    missing = CliRunner().invoke(app, ["why", "retire-nope", "--journal", journal])
    assert isinstance(missing.exception, InputError)
    message = str(missing.exception)
    assert "`gpusteward journal --tail`" in message and "status" not in message
    shown = re.search(r"\[(retire-[0-9a-f]+)\]", tail.output)
    assert shown is not None and "idle for 30 days" in _why(shown.group(1), "--journal", journal)
