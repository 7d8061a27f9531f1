"""In-memory approval gate: holds `NeedsApproval` actions until a person decides.

The durable SQLite store and the chat front-ends replace this behind `ApprovalGate`.
Decisions here are exactly-once and expire; nothing is approved by default.
"""

from __future__ import annotations

from datetime import datetime

from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest, ApprovalState
from gpusteward.core.errors import InputError
from gpusteward.core.verdicts import NeedsApproval


class InMemoryApprovalGate:
    def __init__(self) -> None:
        self._requests: dict[str, ApprovalRequest] = {}
        self._handed_out: set[str] = set()

    def submit(self, proposal: Proposal, verdict: NeedsApproval, now: datetime) -> ApprovalRequest:
        existing = self._requests.get(proposal.action.id)
        if existing is not None:
            return existing
        request = ApprovalRequest.asked(proposal, verdict, now)
        self._requests[request.id] = request
        return request

    def pending(self, now: datetime) -> list[ApprovalRequest]:
        self._expire(now)
        return [r for r in self._requests.values() if r.state == ApprovalState.PENDING]

    def decide(self, request_id: str, *, approve: bool, by: str, now: datetime) -> ApprovalRequest:
        self._expire(now)
        request = self._requests.get(request_id)
        if request is None:
            raise InputError(f"approval {request_id!r}: no such request. Fix: see pending ones.")
        if request.state != ApprovalState.PENDING:
            raise InputError(
                f"approval {request_id!r} is already {request.state.value}"
                + (f" by {request.decided_by}" if request.decided_by else "")
                + "; a request is decided once"
            )
        state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        decided = request.model_copy(update={"state": state, "decided_by": by})
        self._requests[request_id] = decided
        return decided

    def approved(self, now: datetime) -> list[ApprovalRequest]:
        self._expire(now)
        out = [
            r
            for r in self._requests.values()
            if r.state == ApprovalState.APPROVED and r.id not in self._handed_out
        ]
        self._handed_out.update(r.id for r in out)
        return out

    def _expire(self, now: datetime) -> None:
        for rid, r in list(self._requests.items()):
            if r.state == ApprovalState.PENDING and now >= r.expires_at:
                self._requests[rid] = r.model_copy(update={"state": ApprovalState.EXPIRED})
