"""Fixtures for the approval chat: people, a store, proposals, and a live server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from gpusteward.chat.identities import Identities
from gpusteward.chat.server import make_server
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.core.actions import Proposal, RetireModel, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.verdicts import NeedsApproval, RuleHit
from gpusteward.testing import make_snapshot
from tests.waiting import PATIENCE, wait_for

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
LLM = "default/llm-chat"
TOKENS = {
    "alice": "alice-token-0123456789",  # oncall
    "bob": "bob-token-0123456789abc",  # oncall, ml-platform
    "eve": "eve-token-0123456789abcd",  # no group: sees cards, cannot decide
}
PEOPLE_YAML = f"""\
pause_group: oncall
people:
  - {{name: alice, token: {TOKENS["alice"]}, slack_user: UALICE, groups: [oncall]}}
  - {{name: bob, token: {TOKENS["bob"]}, slack_user: UBOB, groups: [oncall, ml-platform]}}
  - {{name: eve, token: {TOKENS["eve"]}, slack_user: UEVE, groups: []}}
"""
ASK_POLICY = """\
name: ask-for-everything
defaults: {approver_group: oncall, expires: 1h, unmatched: needs_approval}
rules:
  - {id: replica-bounds, kind: replica-bounds, effect: deny}
"""


def scale(replicas: int, *, at: datetime = T0, frm: int | None = 2, target: str = LLM) -> Proposal:
    action = ScaleDeployment(deployment=target, replicas=replicas, from_replicas=frm, issued_at=at)
    return Proposal(action=action, reason=f"load needs {replicas} replicas", planner="test")


def retire(at: datetime = T0) -> Proposal:
    return Proposal(action=RetireModel(deployment=LLM, issued_at=at), reason="idle for 7 days")


def needs(
    proposal: Proposal, *, group: str = "oncall", expires: float = 3600, version: str = "p@1"
) -> NeedsApproval:
    return NeedsApproval(
        action_id=proposal.action.id,
        policy_version=version,
        approver_group=group,
        expires_in_seconds=expires,
        rules=(RuleHit(rule="big-step", reason="a step of 6 replicas is larger than 4"),),
    )


class FakeDaemonView:
    """`DaemonView` for tests: a settable snapshot and a recorded pause flag."""

    def __init__(self, snapshot: ClusterSnapshot | None = None) -> None:
        self.snapshot = snapshot or make_snapshot(at=T0)
        self.paused = False

    def latest_snapshot(self) -> ClusterSnapshot | None:
        return self.snapshot

    def status_lines(self) -> list[str]:
        return ["daemon: test", f"last snapshot {self.snapshot.at:%Y-%m-%d %H:%M} UTC"]

    def set_paused(self, paused: bool) -> None:
        self.paused = paused


@pytest.fixture
def identities() -> Identities:
    return Identities.parse(PEOPLE_YAML, "people.yaml")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteApprovalStore]:
    with SqliteApprovalStore(tmp_path / "approvals.sqlite", cooloff_seconds=1800) as s:
        yield s


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def service(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock
) -> ApprovalService:
    return ApprovalService(store, identities, clock, FakeDaemonView(), speed=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server on loopback, in a background thread with its own loop."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server = make_server(app, "127.0.0.1", self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(
            lambda: self.server.started or (False if self.thread.is_alive() else "stopped"),
            f"the chat server listening on {self.url}",
            every=0.01,
        )
        if not self.server.started:
            raise RuntimeError(f"chat server stopped before it listened on {self.url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=PATIENCE)


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
