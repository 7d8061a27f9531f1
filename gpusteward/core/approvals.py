"""A durable request for a human decision on one exact action."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import AwareDatetime

from gpusteward.core.actions import Proposal
from gpusteward.core.model import Frozen


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class ApprovalRequest(Frozen):
    id: str
    proposal: Proposal
    action_hash: str
    policy_version: str
    approver_group: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    comment: str | None = None


def action_hash(proposal: Proposal) -> str:
    """Hash of the exact action content: an approval binds to this, not to a description."""
    body = proposal.action.model_dump_json(exclude={"id"})
    return hashlib.sha256(body.encode()).hexdigest()
