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
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.chat.commands import run_command
from gpusteward.chat.identities import Identities
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.cli.main import app
from gpusteward.core.actions import Evidence, Proposal, RetireModel
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import InputError
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.testing import FakeClusterSource, RecordingExecutor, ScriptedPlanner, make_snapshot
from policies.document import PACKS_DIR
from policies.engine import RulePolicyEngine, load_policy
from tests.chat.conftest import PEOPLE_YAML, TOKENS

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


def _approved_in_the_chat_and_run(tmp_path: Path) -> Run:
    """Tick 0 proposes the retirement (it needs ml-platform's approval); bob approves it in
    the web chat; tick 1, which proposes nothing, runs it."""
    run = Run(tmp_path, [[RETIRE], []])
    run.tick()
    run.store.decide(
        RETIRE.action.id,
        approve=True,
        by="bob",
        channel="web",
        now=run.clock.now(),
        comment="unused since October",
    )
    run.tick()
    run.close()
    return run


def test_why_follows_an_action_approved_in_the_chat_to_the_tick_that_ran_it(
    tmp_path: Path,
) -> None:
    run = _approved_in_the_chat_and_run(tmp_path)
    text = _why(RETIRE.action.id[:14], "--journal", str(run.journal_path))
    assert "proposed: tick #0 at 2026-11-02 14:00:00 UTC by planner scripted" in text
    assert "rationale: idle for 30 days" in text and "arrival_rate = 0.0 req/s" in text
    assert "verdict: needs_approval" in text and "[retire-with-traffic]" in text
    assert "approved by bob via web at 2026-11-02 14:01:00 UTC" in text
    assert "unused since October" in text and "pending" not in text
    assert "result: applied at 2026-11-02 14:01:00 UTC (tick #1)" in text


def test_journal_tail_shows_the_tick_that_ran_an_approved_action(tmp_path: Path) -> None:
    run = _approved_in_the_chat_and_run(tmp_path)
    tail = CliRunner().invoke(app, ["journal", "--tail", "1", "--journal", str(run.journal_path)])
    assert tail.exit_code == 0, tail.output
    assert f"approved earlier [{RETIRE.action.id}]: applied" in tail.output


def test_the_chat_and_the_cli_tell_an_approval_in_the_same_lines(tmp_path: Path) -> None:
    run = _approved_in_the_chat_and_run(tmp_path)
    cli = _why(RETIRE.action.id, "--journal", str(run.journal_path)).splitlines()
    with SqliteApprovalStore(tmp_path / "j.approvals.sqlite") as store:
        service = ApprovalService(store, Identities.parse(PEOPLE_YAML, "people.yaml"), run.clock)
        bob = service.identities.by_token(TOKENS["bob"])
        chat = run_command(service, bob, f"/why {RETIRE.action.id}", "web").text.splitlines()
    approval = [line for line in cli if line.startswith(("approval", "  2026-"))]
    assert len(approval) >= 3 and [line for line in chat if line in approval] == approval
