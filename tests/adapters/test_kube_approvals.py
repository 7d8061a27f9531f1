"""The Kubernetes run keeps NeedsApproval actions in the durable approval store beside its
journal, as the simulator run does: one request per intent, still pending after a restart,
and an approval (through the store or the served chat) makes the next tick apply it to the
emulated Deployment, after re-judging it on a fresh snapshot."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from forecasting.auto import LastValueConfig
from gpusteward.app.scenario import load_scenario
from gpusteward.app.serving import run_service
from gpusteward.app.settings import Settings
from gpusteward.app.wiring import approvals_path
from gpusteward.app.wiring_kube import KubeRun, build_kube_run
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.approvals import ApprovalRequest, ApprovalState
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast
from gpusteward.core.verdicts import ResultStatus
from tests.contract.kube_emulator import EmulatedApiServer
from tests.contract.worlds import DEPLOYMENT, NAME, NAMESPACE, seed
from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for

ASK_FOR_BIG_STEPS = """\
name: ask-for-big-steps
defaults: {approver_group: oncall, expires: 1h, unmatched: needs_approval}
rules:
  - {id: replica-bounds, kind: replica-bounds, effect: deny}
  - {id: big-step, kind: max-step, match: {actions: [scale]}, per_action: 1,
     effect: needs_approval}
"""
TOKEN = "alice-token-0123456789"
PEOPLE_YAML = f"""\
pause_group: oncall
people:
  - {{name: alice, token: {TOKEN}, slack_user: UALICE, groups: [oncall]}}
"""


class ScaleToFour:
    """Proposes `serving/m` -> 4 replicas (a step of 2) on each tick until it has 4."""

    name = "scale-to-four"

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        d = snapshot.deployment(DEPLOYMENT)
        if d is None or d.replicas == 4:
            return []
        action = ScaleDeployment(
            issued_at=snapshot.at, deployment=DEPLOYMENT, replicas=4, from_replicas=d.replicas
        )
        return [Proposal(action=action, reason="test: a step above the policy's limit")]


@pytest.fixture
def server() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer() as s:
        seed(s)
        yield s


def settings_for(server: EmulatedApiServer, tmp: Path, **more: object) -> Settings:
    (tmp / "ask.yaml").write_text(ASK_FOR_BIG_STEPS)
    return Settings(
        backend="kubernetes",
        kubeconfig=server.kubeconfig(tmp / "kubeconfig"),
        journal=tmp / "kubernetes.db",
        lease_namespace=NAMESPACE,
        kube_timeout_seconds=REQUEST_PATIENCE,  # the emulator, on a possibly busy machine
        **more,  # type: ignore[arg-type]
    )


@contextmanager
def kube_run(settings: Settings, tmp: Path) -> Iterator[KubeRun]:
    """The real wiring, closed on exit; only the planner is the test's, so the proposal
    is known."""
    scenario = load_scenario("quickstart").model_copy(
        update={"policy": str(tmp / "ask.yaml"), "forecaster": LastValueConfig()}
    )
    run = build_kube_run(scenario, settings)
    try:
        run.daemon.planner = ScaleToFour()
        assert run.elector is not None and run.elector.step(), "takes the leader lease"
        yield run
    finally:
        run.close()


def tick(run: KubeRun, settings: Settings) -> None:
    asyncio.run(run_service(run, settings, once=True))


def replicas(server: EmulatedApiServer) -> int:
    return int(server.get("apps/v1/deployments", NAMESPACE, NAME)["spec"]["replicas"])


def only_request(run: KubeRun) -> ApprovalRequest:
    requests = run.approvals.recent()
    assert len(requests) == 1, [r.proposal.action.describe() for r in requests]
    return requests[0]


def test_a_needs_approval_proposal_lands_in_the_store_beside_the_journal_once_per_intent(
    server: EmulatedApiServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    with kube_run(settings, tmp_path) as run:
        tick(run, settings)
        first = only_request(run)
        assert first.state == ApprovalState.PENDING
        assert first.proposal.action.describe().startswith(f"scale {DEPLOYMENT} 2 -> 4")
        assert run.approvals.path == approvals_path(settings, settings.journal or Path())
        assert run.exposition.registry.get_sample_value("gpusteward_pending_approvals") == 1.0
        tick(run, settings)  # a new action id, the same intent
        assert only_request(run).id == first.id
        assert len(run.approvals.pending(run.clock.now())) == 1
        assert replicas(server) == 2, "nothing runs before a human approves"


def test_a_pending_request_survives_a_restart_and_an_approval_applies_on_the_next_tick(
    server: EmulatedApiServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    with kube_run(settings, tmp_path) as before:
        tick(before, settings)
        asked = only_request(before)
    # A restart: the same journal, a fresh process state.
    with kube_run(settings, tmp_path) as after:
        assert [r.id for r in after.approvals.pending(after.clock.now())] == [asked.id]
        after.approvals.decide(
            asked.id, approve=True, by="alice", channel="web", now=after.clock.now()
        )
        tick(after, settings)
        assert replicas(server) == 4
        done = after.approvals.get(asked.id)
        assert done is not None and done.state == ApprovalState.APPROVED
        assert done.outcome == ResultStatus.APPLIED.value
        assert after.daemon.stats.results[ResultStatus.APPLIED.value] == 1


def test_an_approved_action_planned_from_a_stale_state_is_superseded_not_run(
    server: EmulatedApiServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    with kube_run(settings, tmp_path) as run:
        tick(run, settings)
        asked = only_request(run)
        run.approvals.decide(asked.id, approve=True, by="alice", channel="web", now=run.clock.now())
        deployment = server.get("apps/v1/deployments", NAMESPACE, NAME)
        server.put("apps/v1/deployments", NAMESPACE, {**deployment, "spec": {
            **deployment["spec"], "replicas": 3}})  # fmt: skip
        tick(run, settings)  # re-judged on the fresh snapshot: planned from 2, now 3
        assert replicas(server) == 3
        done = run.approvals.get(asked.id)
        assert done is not None and done.outcome == ResultStatus.SUPERSEDED.value


def test_the_chat_is_served_beside_the_kubernetes_daemon_and_its_approval_applies(
    server: EmulatedApiServer, tmp_path: Path
) -> None:
    (tmp_path / "people.yaml").write_text(PEOPLE_YAML)
    settings = settings_for(
        server,
        tmp_path,
        chat_people=tmp_path / "people.yaml",
        chat_host="127.0.0.1",
        chat_port=free_port(),
        interval_seconds=0.2,
    )
    with kube_run(settings, tmp_path) as run:
        serve_and_approve(run, settings, server)


def serve_and_approve(run: KubeRun, settings: Settings, server: EmulatedApiServer) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(run_service(run, settings)), daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{settings.chat_port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        card = wait_for(lambda: pending_card(url, auth), "a pending card in the chat")
        decided = httpx.post(
            f"{url}/api/approvals/{card['id']}/decision",
            json={"approve": True},
            headers=auth,
            timeout=REQUEST_PATIENCE,
        )
        assert decided.is_success, decided.text
        # the next tick (0.2 s) applies it
        wait_for(lambda: replicas(server) == 4, "the approved scale-up applied", every=0.05)
    finally:
        loop.call_soon_threadsafe(run.daemon.request_stop)
        thread.join(timeout=PATIENCE)
    assert not thread.is_alive()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pending_card(url: str, auth: dict[str, str]) -> dict[str, Any] | None:
    try:
        cards = httpx.get(f"{url}/api/cards", headers=auth, timeout=REQUEST_PATIENCE).json()[
            "cards"
        ]
    except httpx.HTTPError:
        return None  # the chat is not up yet
    return next((c for c in cards if c["state"] == "pending"), None)
