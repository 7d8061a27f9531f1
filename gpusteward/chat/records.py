"""What the approval store records beside the requests: audit events and thread messages."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime

from gpusteward.core.model import Frozen


class EventKind(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    AUTO_REJECTED = "auto-rejected"
    REFUSED = "refused"  # a decision attempt that was not allowed or came too late
    OUTCOME = "outcome"  # what running an approved action did
    PAUSED = "paused"
    RESUMED = "resumed"
    THREAD = "thread"


DECISION_KINDS = frozenset(
    {
        EventKind.APPROVED,
        EventKind.REJECTED,
        EventKind.EXPIRED,
        EventKind.SUPERSEDED,
        EventKind.AUTO_REJECTED,
        EventKind.REFUSED,
        EventKind.OUTCOME,
        EventKind.PAUSED,
        EventKind.RESUMED,
    }
)
"""What `gpusteward approvals` lists: decisions, refused attempts and what came of them."""


class ApprovalEvent(Frozen):
    """One line of the append-only audit log.

    `at` is the daemon's clock (virtual in a simulation; it governs expiry);
    `recorded_at` is the wall clock when the line was written.
    """

    seq: int
    kind: EventKind
    request_id: str | None
    actor: str | None
    channel: str | None
    detail: str = ""
    at: AwareDatetime
    recorded_at: AwareDatetime


class ThreadMessage(Frozen):
    author: str
    text: str
    at: AwareDatetime
