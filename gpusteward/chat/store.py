"""The approval store: the `ApprovalGate` port on one SQLite file (WAL), shared by every
chat channel (web, Slack, CLI) and by the daemon.

A request is bound to a hash of the exact action, the policy version, an approver group
and an expiry. States: pending -> approved | rejected | expired | superseded (an approved
request whose re-validation failed also ends superseded). Every change is one
`BEGIN IMMEDIATE` transaction that checks the state it changes, so a decision is taken
exactly once however many threads or processes race for it; the loser gets a
`DecisionRefused` naming who won. Every change and every refused attempt is appended to
the audit log (`events`). Listeners hear about changes after they commit.

Submitting is idempotent and de-duplicating: the same action id, or a pending one with
the same intent (same change, another tick), returns the existing request; a new intent
for the same target supersedes the pending one; an intent rejected (or expired) within
the cool-off period is auto-rejected.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from gpusteward.chat.records import ApprovalEvent, EventKind, ThreadMessage
from gpusteward.chat.rows import Transaction, event_from_row
from gpusteward.chat.schema import FORMAT
from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import (
    ApprovalRequest,
    ApprovalState,
    Projection,
    intent_hash,
)
from gpusteward.core.clock import RealClock
from gpusteward.core.errors import InputError, JournalError
from gpusteward.core.sqlite_files import SqliteFile, read_meta, write_meta
from gpusteward.core.verdicts import ActionResult, NeedsApproval, ResultStatus

Listener = Callable[[ApprovalEvent], None]
_CLOSED_STATES: Final = (ApprovalState.REJECTED, ApprovalState.EXPIRED)


class DecisionRefused(InputError):
    """A decision that cannot be taken (unknown id, already decided, expired, not allowed).
    The message says which, and by whom the request was decided."""


class SqliteApprovalStore(SqliteFile):
    """Thread-safe; several processes may share the file (SQLite locking)."""

    def __init__(
        self,
        path: Path,
        *,
        cooloff_seconds: float = 1800.0,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        if cooloff_seconds < 0:
            raise ValueError(f"cooloff_seconds={cooloff_seconds}: expected >= 0 (seconds)")
        super().__init__(path, FORMAT, lock=threading.RLock())
        self._cooloff = cooloff_seconds
        self._wall = wall or RealClock().now
        self._handed_out: set[str] = set()  # per process: a restart hands unsettled ones out
        self._listeners: list[Listener] = []

    # -- the ApprovalGate port ----------------------------------------------------------

    def submit(self, proposal: Proposal, verdict: NeedsApproval, now: datetime) -> ApprovalRequest:
        intent = intent_hash(proposal)
        with self._tx(now) as tx:
            existing = tx.one("SELECT body FROM approvals WHERE id = ?", proposal.action.id)
            if existing is not None:
                return existing
            same = tx.one(
                "SELECT body FROM approvals WHERE intent = ? AND (state = 'pending' OR "
                "(state = 'approved' AND settled = 0)) ORDER BY created_ts DESC LIMIT 1",
                intent,
            )
            if same is not None:
                return same
            request = ApprovalRequest.asked(proposal, verdict, now)
            request = self._cool_off(tx, request, now)
            if request.state == ApprovalState.PENDING:
                self._supersede_target(tx, request, now)
            tx.insert(request)
            tx.event(EventKind.SUBMITTED, request.id, detail=request.proposal.action.describe())
            if request.state == ApprovalState.REJECTED:
                tx.event(EventKind.AUTO_REJECTED, request.id, "system", "system", request.comment)
            return request

    def approved(self, now: datetime) -> list[ApprovalRequest]:
        """Approved, not yet settled requests, each handed out once per process."""
        self.expire(now)
        rows = self._select(
            "SELECT body FROM approvals WHERE state = 'approved' AND settled = 0 "
            "ORDER BY decided_ts"
        )
        with self._lock:
            out = [r for r in rows if r.id not in self._handed_out]
            self._handed_out.update(r.id for r in out)
        return out

    # -- deciding -----------------------------------------------------------------------

    def decide(
        self,
        request_id: str,
        *,
        approve: bool,
        by: str,
        channel: str,
        now: datetime,
        comment: str | None = None,
    ) -> ApprovalRequest:
        """Approve or reject a pending request, exactly once; otherwise `DecisionRefused`."""
        self.expire(now)
        with self._tx(now) as tx:
            current = tx.one("SELECT body FROM approvals WHERE id = ?", request_id)
            problem = _why_not_pending(request_id, current)
            if problem is not None or current is None:
                tx.event(EventKind.REFUSED, request_id, by, channel, problem)
                refusal = DecisionRefused(problem or f"approval {request_id!r}: no such request")
            else:
                state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
                decided = current.model_copy(
                    update={
                        "state": state,
                        "decided_by": by,
                        "decided_at": now,
                        "channel": channel,
                        "comment": comment,
                    }
                )
                tx.update(decided, expect=ApprovalState.PENDING)
                kind = EventKind.APPROVED if approve else EventKind.REJECTED
                tx.event(kind, request_id, by, channel, comment or "")
                return decided
        raise refusal  # after the transaction committed the audit line

    def refuse(self, request_id: str, *, by: str, channel: str, reason: str, now: datetime) -> None:
        """Record an attempt refused before reaching the store (e.g. not an approver)."""
        with self._tx(now) as tx:
            tx.event(EventKind.REFUSED, request_id, by, channel, reason)

    def expire(self, now: datetime) -> list[ApprovalRequest]:
        """The sweeper: pending requests past their expiry become expired (= rejected)."""
        due = self._select(
            "SELECT body FROM approvals WHERE state = 'pending' AND expires_ts <= ?",
            now.timestamp(),
        )
        if not due:
            return []
        out = []
        with self._tx(now) as tx:
            for request in due:
                expired = request.model_copy(
                    update={"state": ApprovalState.EXPIRED, "decided_at": request.expires_at}
                )
                if tx.update(expired, expect=ApprovalState.PENDING):
                    tx.event(EventKind.EXPIRED, request.id, "system", "system", "no decision")
                    out.append(expired)
        return out

    def record_results(self, results: Sequence[ActionResult], now: datetime) -> None:
        """Settle approved requests with what running them did (called after each tick)."""
        with self._tx(now) as tx:
            for result in results:
                current = tx.one(
                    "SELECT body FROM approvals WHERE id = ? AND state = 'approved' "
                    "AND settled = 0",
                    result.action_id,
                )
                if current is None:
                    continue
                update: dict[str, Any] = {"outcome": result.status.value}
                if result.status == ResultStatus.SUPERSEDED:
                    update |= {"state": ApprovalState.SUPERSEDED, "comment": result.message}
                tx.update(current.model_copy(update=update), expect=ApprovalState.APPROVED)
                kind = (
                    EventKind.SUPERSEDED
                    if result.status == ResultStatus.SUPERSEDED
                    else EventKind.OUTCOME
                )
                tx.event(
                    kind,
                    current.id,
                    "daemon",
                    "system",
                    f"{result.status.value}: {result.message}".rstrip(": "),
                )

    def settle_executed(self, executed_ids: set[str], now: datetime) -> None:
        """On start-up: approved requests the journal already records as executed (the
        daemon stopped between its journal write and `record_results`) are settled."""
        rows = self._rows("SELECT id FROM approvals WHERE state = 'approved' AND settled = 0")
        done = [
            ActionResult(
                action_id=str(rid),
                status=ResultStatus.APPLIED,
                message="recorded as executed in the journal",
                at=now,
            )
            for (rid,) in rows
            if rid in executed_ids
        ]
        if done:
            self.record_results(done, now)

    def keep_projection(
        self, request_id: str, projection: Projection, now: datetime
    ) -> ApprovalRequest | None:
        """Keep the projection made on the snapshot the request was asked on, once: a
        request that has one keeps it. The request as stored afterwards (None: no such id)."""
        with self._tx(now) as tx:
            current = tx.one("SELECT body FROM approvals WHERE id = ?", request_id)
            if current is None or current.projection is not None:
                return current
            kept = current.model_copy(update={"projection": projection})
            tx.update(kept, expect=current.state)
            return kept

    # -- reading ------------------------------------------------------------------------

    def get(self, request_id: str) -> ApprovalRequest | None:
        rows = self._select("SELECT body FROM approvals WHERE id = ?", request_id)
        return rows[0] if rows else None

    def resolve(self, ref: str) -> ApprovalRequest:
        """A request by id or unique id prefix (as typed in `/approve ID`)."""
        ref = ref.strip()
        exact = self.get(ref) if ref else None
        if exact is not None:
            return exact
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._select(
            "SELECT body FROM approvals WHERE id LIKE ? ESCAPE '\\' LIMIT 2", escaped + "%"
        )
        if len(rows) == 1 and ref:
            return rows[0]
        if not rows or not ref:
            raise DecisionRefused(f"approval {ref!r}: no such request. Fix: see /pending.")
        raise DecisionRefused(
            f"approval {ref!r} matches several requests ({rows[0].id}, {rows[1].id}, ...). "
            "Fix: type more of the id."
        )

    def pending(self, now: datetime) -> list[ApprovalRequest]:
        self.expire(now)
        return self._select(
            "SELECT body FROM approvals WHERE state = 'pending' ORDER BY created_ts"
        )

    def recent(self, limit: int = 50) -> list[ApprovalRequest]:
        """The newest requests in any state, oldest first."""
        rows = self._select(
            "SELECT body FROM approvals ORDER BY created_ts DESC, rowid DESC LIMIT ?", limit
        )
        return rows[::-1]

    def events(
        self, since: datetime | None = None, limit: int | None = None
    ) -> list[ApprovalEvent]:
        """The audit log, oldest first; `since` compares with the wall-clock `recorded_at`."""
        sql = "SELECT * FROM events WHERE recorded_ts >= ? ORDER BY seq"
        params: list[object] = [since.timestamp() if since else float("-inf")]
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT ?) ORDER BY seq"
            params.append(limit)
        return [event_from_row(row) for row in self._rows(sql, *params)]

    def events_for(self, request_id: str) -> list[ApprovalEvent]:
        """One request's audit lines, oldest first."""
        rows = self._rows("SELECT * FROM events WHERE request_id = ? ORDER BY seq", request_id)
        return [event_from_row(row) for row in rows]

    # -- pause, threads, references ---------------------------------------

    @property
    def paused(self) -> bool:
        rows = self._rows("SELECT value FROM meta WHERE key = 'paused'")
        return bool(rows) and rows[0][0] == "1"

    def set_paused(self, paused: bool, *, by: str, channel: str, now: datetime) -> bool:
        """Durable pause flag (survives a restart); False when nothing changed."""
        with self._tx(now) as tx:
            if (read_meta(tx.conn, "paused") == "1") == paused:
                return False
            write_meta(tx.conn, "paused", "1" if paused else "0")
            tx.event(EventKind.PAUSED if paused else EventKind.RESUMED, None, by, channel)
            return True

    def add_message(self, request_id: str, *, author: str, text: str, now: datetime) -> None:
        with self._tx(now) as tx:
            tx.conn.execute(
                "INSERT INTO threads (request_id, author, text, at) VALUES (?, ?, ?, ?)",
                (request_id, author, text, now.isoformat()),
            )
            tx.event(EventKind.THREAD, request_id, author, "chat", text)

    def thread(self, request_id: str) -> list[ThreadMessage]:
        rows = self._rows(
            "SELECT author, text, at FROM threads WHERE request_id = ? ORDER BY seq", request_id
        )
        return [ThreadMessage(author=a, text=t, at=datetime.fromisoformat(at)) for a, t, at in rows]

    def set_ref(self, request_id: str, where: str, ref: str) -> None:
        """Remember where a card was posted (e.g. a Slack channel and message ts)."""
        with self._lock:
            self._open().execute(
                "INSERT INTO refs (request_id, place, ref) VALUES (?, ?, ?) "
                "ON CONFLICT (request_id, place) DO UPDATE SET ref = excluded.ref",
                (request_id, where, ref),
            )

    def ref(self, request_id: str, where: str) -> str | None:
        rows = self._rows(
            "SELECT ref FROM refs WHERE request_id = ? AND place = ?", request_id, where
        )
        return str(rows[0][0]) if rows else None

    # -- listeners and lifecycle ----------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(event)` after each committed change (from the changing thread)."""
        self._listeners.append(listener)

    # -- internals ----------------------------------------------------------------------

    def _cool_off(
        self, tx: Transaction, request: ApprovalRequest, now: datetime
    ) -> ApprovalRequest:
        if self._cooloff <= 0:
            return request
        since = now.timestamp() - self._cooloff
        earlier = tx.one(
            "SELECT body FROM approvals WHERE intent = ? AND state IN (?, ?) AND decided_ts >= ? "
            "ORDER BY decided_ts DESC LIMIT 1",
            request.intent_hash,
            *(s.value for s in _CLOSED_STATES),
            since,
        )
        if earlier is None or earlier.decided_at is None:
            return request
        until = earlier.decided_at + timedelta(seconds=self._cooloff)
        who = f"rejected by {earlier.decided_by}" if earlier.decided_by else earlier.state.value
        if earlier.state == ApprovalState.EXPIRED:
            who = "expired without a decision"
        return request.model_copy(
            update={
                "state": ApprovalState.REJECTED,
                "decided_by": "system",
                "decided_at": now,
                "channel": "system",
                "comment": f"auto-rejected: the same change ({earlier.id}) was {who} at "
                f"{earlier.decided_at:%Y-%m-%d %H:%M} UTC; cool-off until {until:%H:%M} UTC",
            }
        )

    def _supersede_target(self, tx: Transaction, request: ApprovalRequest, now: datetime) -> None:
        """A newer, different proposal for the same target replaces the pending one."""
        rows = tx.all(
            "SELECT body FROM approvals WHERE target = ? AND state = 'pending' AND intent != ?",
            request.proposal.action.target,
            request.intent_hash,
        )
        for old in rows:
            note = (
                f"superseded by a newer proposal {request.id}: {request.proposal.action.describe()}"
            )
            new = old.model_copy(
                update={"state": ApprovalState.SUPERSEDED, "decided_at": now, "comment": note}
            )
            tx.update(new, expect=ApprovalState.PENDING)
            tx.event(EventKind.SUPERSEDED, old.id, "system", "system", note)

    @contextmanager
    def _tx(self, now: datetime) -> Iterator[Transaction]:
        with self._lock:
            conn = self._open()
            tx = Transaction(conn, now.astimezone(UTC), self._wall().astimezone(UTC))
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield tx
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise JournalError(
                    f"approval store {self._path}: SQLite error ({e}); check the disk and "
                    "file permissions"
                ) from e
        for event in tx.events:
            for listener in list(self._listeners):
                listener(event)

    def _select(self, sql: str, *params: object) -> list[ApprovalRequest]:
        return [ApprovalRequest.model_validate_json(body) for (body,) in self._rows(sql, *params)]

    def _rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._open().execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise JournalError(f"approval store {self._path}: SQLite error ({e})") from e

    def _open(self) -> sqlite3.Connection:
        return self._open_conn()


def _why_not_pending(request_id: str, current: ApprovalRequest | None) -> str | None:
    if current is None:
        return f"approval {request_id!r}: no such request. Fix: see /pending."
    if current.state == ApprovalState.PENDING:
        return None
    by = f" by {current.decided_by}" if current.decided_by else ""
    via = f" via {current.channel}" if current.channel else ""
    when = f" at {current.decided_at:%Y-%m-%d %H:%M:%S} UTC" if current.decided_at else ""
    return (
        f"approval {request_id} is already {current.state.value}{by}{via}{when}; "
        "a request is decided once"
    )
