"""A card shows the projection made when its request was asked (kept with the request),
and, labelled apart, the projection on the latest snapshot while the request is open. A
decided card is never re-projected against a world its own action has changed."""

from __future__ import annotations

import json
import sqlite3

from gpusteward.chat.commands import run_command
from gpusteward.chat.service import ApprovalService
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.verdicts import ActionResult, ResultStatus
from gpusteward.testing import make_deployment, make_snapshot
from tests.chat.conftest import T0, TOKENS, FakeDaemonView, later, needs, scale


def _daemon(service: ApprovalService) -> FakeDaemonView:
    assert isinstance(service.daemon, FakeDaemonView)
    return service.daemon


def _asked(service: ApprovalService) -> ApprovalRequest:
    """2 -> 6 replicas of llm-chat asked at T0, on the snapshot of T0 (60 % utilised)."""
    proposal = scale(6)
    request = service.store.submit(proposal, needs(proposal), T0)
    service.card(request)  # the chat draws it as soon as it is asked
    stored = service.store.get(request.id)
    assert stored is not None
    return stored


def test_an_executed_card_shows_the_projection_made_when_it_was_asked(
    service: ApprovalService,
) -> None:
    request = _asked(service)
    alice = service.identities.by_token(TOKENS["alice"])
    assert service.decide(alice, request.id, approve=True, channel="web").ok
    ran = ActionResult(action_id=request.id, status=ResultStatus.APPLIED, at=later(1))
    service.store.record_results([ran], later(1))
    six = make_deployment("llm-chat", replicas=6)
    _daemon(service).snapshot = make_snapshot(at=later(2), deployments=[six], load=0.9)
    card = service.card(service.store.get(request.id) or request)
    assert card.impact.at == T0 and card.impact.gpus_delta == 4
    assert "utilisation 60% -> 20%" in card.impact.slo
    assert card.impact_now is None  # it ran: a projection on today's snapshot means nothing


def test_an_open_card_shows_the_projection_now_apart_and_labelled(
    service: ApprovalService,
) -> None:
    request = _asked(service)
    _daemon(service).snapshot = make_snapshot(at=later(5), load=0.9)
    card = service.card(request)
    assert card.impact.at == T0 and "utilisation 60% -> 20%" in card.impact.slo
    assert card.impact_now is not None and card.impact_now.at == later(5)
    assert "utilisation 90% -> 30%" in card.impact_now.slo
    alice = service.identities.by_token(TOKENS["alice"])
    why = run_command(service, alice, f"/why {request.id}", "web").text
    assert "projected when asked (2026-11-02 14:00 UTC): +4 GPUs" in why
    assert "projected on the latest snapshot (2026-11-02 14:05 UTC): +4 GPUs" in why


def test_a_request_drawn_first_on_a_later_snapshot_keeps_no_made_up_projection(
    service: ApprovalService,
) -> None:
    proposal = scale(6)
    request = service.store.submit(proposal, needs(proposal), T0)
    _daemon(service).snapshot = make_snapshot(at=later(5), load=0.9)
    card = service.card(request)
    assert card.impact.gpus_delta is None and "not recorded" in card.impact.slo
    stored = service.store.get(request.id)
    assert stored is not None and stored.projection is None


def test_a_request_stored_before_projections_were_kept_is_still_read(
    service: ApprovalService,
) -> None:
    proposal = scale(6)
    request = service.store.submit(proposal, needs(proposal), T0)
    body = json.loads(request.model_dump_json())
    del body["projection"]  # what an older gpusteward wrote
    with sqlite3.connect(service.store.path) as conn:
        conn.execute("UPDATE approvals SET body = ? WHERE id = ?", (json.dumps(body), request.id))
    old = service.store.get(request.id)
    assert old is not None and old.projection is None
    _daemon(service).snapshot = make_snapshot(at=later(5))
    assert "not recorded" in service.card(old).impact.slo
