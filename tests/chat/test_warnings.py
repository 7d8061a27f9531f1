"""The diagnostics' warnings in the chat: posted once when they open, again when they turn
critical, a resolve message when they clear; `/warnings` lists the open ones, `/why ID`
explains one, and a connected page receives each post live."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from websockets.sync.client import connect

from gpusteward.chat.commands import run_command
from gpusteward.chat.identities import Identities
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard, posting
from gpusteward.chat.web import create_web_app
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.diagnosis import Cause, DiagnosticWarning, Evidence, RedFlag, Severity
from gpusteward.core.verdicts import NeedsApproval, RuleHit
from gpusteward.testing import make_tick_record
from tests.chat.conftest import LLM, T0, TOKENS, FakeDaemonView, LiveServer, scale
from tests.waiting import REQUEST_PATIENCE


def _warning(severity: Severity = Severity.WARNING, *, resolved: bool = False) -> DiagnosticWarning:
    remedy = Proposal(
        action=ScaleDeployment(deployment=LLM, replicas=6, from_replicas=2, issued_at=T0),
        reason="queue growing",
        planner="diagnostics",
    )
    return DiagnosticWarning(
        id=f"queue-growth:{LLM}:{int(T0.timestamp())}",
        flag=RedFlag.QUEUE_GROWTH,
        deployment=LLM,
        severity=severity,
        opened_at=T0,
        at=T0,
        summary="40 requests queued (5.0 s to clear; SLO 1 s)",
        evidence=(Evidence(metric="queue_depth", observed=40, window_seconds=120, baseline=2),),
        cause=Cause.TOO_FEW_REPLICAS,
        cause_detail="2 ready replicas serve 8 req/s",
        remedy=remedy,
        remedy_verdict=NeedsApproval(
            action_id=remedy.action.id, rules=(RuleHit(rule="big-step", reason="+4"),)
        ),
        resolved=resolved,
    )


def test_a_warning_is_posted_once_escalated_once_and_resolved_once() -> None:
    board = WarningBoard()
    first = board.post([_warning()], T0)
    assert [p.kind for p in first] == ["opened"]
    assert board.post([_warning()], T0 + timedelta(minutes=1)) == []  # same state: no repeat
    critical = board.post([_warning(Severity.CRITICAL)], T0 + timedelta(minutes=2))
    assert [p.kind for p in critical] == ["escalated"]
    done = board.post([_warning(resolved=True)], T0 + timedelta(minutes=3))
    assert [p.kind for p in done] == ["resolved"] and "resolved" in done[0].text()
    assert board.post([_warning(resolved=True)], T0 + timedelta(minutes=4)) == []
    assert board.open() == []


def test_a_tick_records_warnings_reach_the_board() -> None:
    board, seen = WarningBoard(), []
    on_tick = posting(board, seen.append)
    record = make_tick_record(0).model_copy(update={"warnings": (_warning(),)})
    on_tick(record)
    assert seen == [record] and [w.id for w in board.open()] == [_warning().id]


def _service(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock, board: WarningBoard
) -> ApprovalService:
    return ApprovalService(store, identities, clock, FakeDaemonView(), speed=None, warnings=board)


def test_warnings_lists_the_open_ones_and_why_explains_one(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock
) -> None:
    board = WarningBoard()
    service = _service(store, identities, clock, board)
    assert run_command(service, None, "/warnings", "web").text == "no open warnings"
    board.post([_warning()], T0)
    listed = run_command(service, None, "/warnings", "web").text
    assert "1 open warning" in listed and _warning().id in listed
    why = run_command(service, None, f"/why queue-growth:{LLM}", "web")
    assert why.ok
    assert "likely cause: too-few-replicas" in why.text
    assert "queue_depth 40 over 2 min vs baseline 2" in why.text
    assert "guard: needs_approval ([big-step] +4)" in why.text


def test_why_still_explains_an_approval_when_warnings_are_on(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock
) -> None:
    board = WarningBoard()
    board.post([_warning()], T0)
    service = _service(store, identities, clock, board)
    proposal = scale(6)
    hit = RuleHit(rule="big-step", reason="+4")
    request = store.submit(proposal, NeedsApproval(action_id=proposal.action.id, rules=(hit,)), T0)
    why = run_command(service, None, f"/why {request.id}", "web")
    assert why.ok and why.request_id == request.id


def test_a_connected_page_receives_each_post_live(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock
) -> None:
    board = WarningBoard()
    with LiveServer(create_web_app(_service(store, identities, clock, board))) as live:
        url = f"ws://127.0.0.1:{live.port}/ws?token={TOKENS['alice']}"
        with connect(url, open_timeout=REQUEST_PATIENCE) as page:
            _next(page, "hello")
            board.post([_warning()], T0)
            opened = _next(page, "warning")
            board.post([_warning(resolved=True)], T0 + timedelta(minutes=5))
            resolved = _next(page, "warning")
    assert opened["kind"] == "opened" and "queue-growth" in opened["text"]
    assert resolved["kind"] == "resolved"


def _next(page: Any, kind: str) -> dict[str, Any]:
    while True:
        msg = json.loads(page.recv(timeout=REQUEST_PATIENCE))
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]
