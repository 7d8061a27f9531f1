"""The one decision path behind every chat channel: authorise, decide, audit.

Web chat, Slack and tests all call `ApprovalService`; none of them touches the store's
decision methods directly. A person outside the approver group is refused (and the
attempt is audited); a second or late answer is refused by the store with a message
naming who decided first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal, Protocol

import structlog

from gpusteward.chat.cards import Card, impact, make_card
from gpusteward.chat.identities import Identities, Person
from gpusteward.chat.notes import NoteBook
from gpusteward.chat.records import ApprovalEvent, EventKind
from gpusteward.chat.store import DecisionRefused, SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.model import Frozen
from gpusteward.core.ports import Clock

log = structlog.get_logger("gpusteward.chat")


class DaemonView(Protocol):
    """What the chat may see of and do to the running daemon (given by the composition
    root). Pausing stops acting, never observing."""

    def latest_snapshot(self) -> ClusterSnapshot | None: ...

    def status_lines(self) -> list[str]: ...

    def set_paused(self, paused: bool) -> None: ...


class Answerer(Protocol):
    """Answers a free-text question from the journal (an LLM, when one is configured)."""

    def answer(self, question: str, asked_by: str) -> str: ...


class Outcome(Frozen):
    ok: bool
    text: str
    request_id: str | None = None
    refusal: Literal["forbidden", "conflict", "invalid"] | None = None  # why not ok


class ApprovalService:
    def __init__(
        self,
        store: SqliteApprovalStore,
        identities: Identities,
        clock: Clock,
        daemon: DaemonView | None = None,
        answerer: Answerer | None = None,
        speed: float | None = 1.0,
        notes: NoteBook | None = None,
        warnings: WarningBoard | None = None,
    ) -> None:
        self.store, self.identities, self.clock = store, identities, clock
        self.daemon, self.answerer = daemon, answerer
        self.notes = notes  # operator notes (`/intent`), in the same SQLite file
        self.warnings = warnings  # the diagnostics' warnings (`/warnings`, `/why ID`)
        self.speed = speed  # virtual seconds per real second (for countdowns); None = max

    def now(self) -> datetime:
        return self.clock.now()

    def snapshot(self) -> ClusterSnapshot | None:
        return self.daemon.latest_snapshot() if self.daemon else None

    def card(self, request: ApprovalRequest) -> Card:
        snapshot = self.snapshot()
        return make_card(self._projected(request, snapshot), snapshot)

    def cards(self, limit: int = 50) -> list[Card]:
        self.store.expire(self.now())
        snapshot = self.snapshot()
        return [make_card(self._projected(r, snapshot), snapshot) for r in self.store.recent(limit)]

    def keep_projections(self) -> None:
        """Keep the projection of each pending request asked on the latest snapshot (the
        expiry sweeper calls this, for requests no card was drawn for yet)."""
        snapshot = self.snapshot()
        for request in self.store.pending(self.now()):
            self._projected(request, snapshot)

    def _projected(
        self, request: ApprovalRequest, snapshot: ClusterSnapshot | None
    ) -> ApprovalRequest:
        """`request` with the projection made on the snapshot it was asked on, kept in the
        store the first time that snapshot is at hand. A later snapshot is never used:
        the request then has none, and its card says so."""
        if request.projection is not None or snapshot is None:
            return request
        if snapshot.at != request.created_at:
            return request
        projection = impact(request.proposal.action, snapshot)
        return self.store.keep_projection(request.id, projection, self.now()) or request

    def decide(
        self,
        person: Person | None,
        ref: str,
        *,
        approve: bool,
        channel: str,
        comment: str | None = None,
        actor: str | None = None,
    ) -> Outcome:
        """Approve or reject `ref` (an id or unique prefix) as `person`, via `channel`."""
        now = self.now()
        who = person.name if person else (actor or "unknown")
        try:
            request = self.store.resolve(ref)
        except DecisionRefused as e:
            self.store.refuse(ref, by=who, channel=channel, reason=str(e), now=now)
            return Outcome(ok=False, text=str(e), refusal="invalid")
        if person is None or not person.in_group(request.approver_group):
            reason = (
                f"{who} is not in approver group '{request.approver_group}' and cannot "
                f"decide {request.id}; ask someone in '{request.approver_group}'"
            )
            self.store.refuse(request.id, by=who, channel=channel, reason=reason, now=now)
            log.warning("decision refused", request=request.id, by=who, reason=reason)
            return Outcome(ok=False, text=reason, request_id=request.id, refusal="forbidden")
        try:
            decided = self.store.decide(
                request.id, approve=approve, by=who, channel=channel, now=now, comment=comment
            )
        except DecisionRefused as e:
            return Outcome(ok=False, text=str(e), request_id=request.id, refusal="conflict")
        verb = "approved" if approve else "rejected"
        log.info("decision", request=decided.id, decision=verb, by=who, channel=channel)
        return Outcome(
            ok=True,
            text=f"{verb} {decided.proposal.action.describe()} ({decided.id})",
            request_id=decided.id,
        )

    def set_paused(self, person: Person | None, paused: bool, *, channel: str) -> Outcome:
        verb = "pause" if paused else "resume"
        if person is None or not self.identities.can_pause(person):
            who = person.name if person else "unknown"
            group = self.identities.file.pause_group
            self.store.refuse(
                "-", by=who, channel=channel, reason=f"/{verb}: not in {group}", now=self.now()
            )
            return Outcome(
                ok=False,
                text=f"only members of '{group}' may {verb} the daemon",
                refusal="forbidden",
            )
        changed = self.store.set_paused(paused, by=person.name, channel=channel, now=self.now())
        if self.daemon is not None:
            self.daemon.set_paused(paused)
        state = (
            "paused: it observes, forecasts, plans and asks, but executes nothing"
            if paused
            else "acting again"
        )
        prefix = "" if changed else "already "
        return Outcome(ok=True, text=f"the daemon is {prefix}{state} ({verb} by {person.name})")


def on_change(store: SqliteApprovalStore, fn: Callable[[str, bool], None]) -> None:
    """Call `fn(request_id, thread_changed)` whenever a request or its thread changes.
    A refused attempt changes nothing that a card shows, so it is not announced."""

    def listener(event: ApprovalEvent) -> None:
        if event.request_id and event.kind != EventKind.REFUSED:
            fn(event.request_id, event.kind == EventKind.THREAD)

    store.subscribe(listener)
