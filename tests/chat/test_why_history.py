"""The chat's `/why ID` tells an action's whole life from the approval store: asked,
every attempt to decide it (refused ones too), who decided and when, and when it ran
with what result; in the same words as `gpusteward why`."""

from __future__ import annotations

from gpusteward.chat.commands import run_command
from gpusteward.chat.service import ApprovalService
from gpusteward.core.verdicts import ActionResult, ResultStatus
from tests.chat.conftest import TOKENS, later, needs, scale


def test_why_tells_who_tried_who_decided_and_when_it_ran(service: ApprovalService) -> None:
    proposal = scale(6)
    request = service.store.submit(proposal, needs(proposal), later(0))
    eve, alice = (service.identities.by_token(TOKENS[who]) for who in ("eve", "alice"))
    assert not service.decide(eve, request.id, approve=True, channel="web").ok
    assert service.decide(alice, request.id, approve=True, channel="web", comment="go").ok
    ran = ActionResult(
        action_id=request.id, status=ResultStatus.APPLIED, message="scaled to 6", at=later(2)
    )
    service.store.record_results([ran], later(2))
    out = run_command(service, alice, f"/why {request.id[:14]}", "web")
    assert out.ok, out.text
    assert "refused by eve via web: eve is not in approver group 'oncall'" in out.text
    assert "2026-11-02 14:00:00 UTC approved by alice via web: go" in out.text
    assert "2026-11-02 14:02:00 UTC ran: applied: scaled to 6" in out.text
