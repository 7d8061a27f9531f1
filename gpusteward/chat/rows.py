"""The approval store's SQL row layer: one open transaction with typed reads and writes,
and the audit events it will announce once it commits."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from gpusteward.chat.records import ApprovalEvent, EventKind
from gpusteward.core.approvals import ApprovalRequest, ApprovalState


class Transaction:
    """One open transaction: typed reads and writes, and the events it will announce."""

    def __init__(self, conn: sqlite3.Connection, now: datetime, wall: datetime) -> None:
        self.conn, self.now, self.wall = conn, now, wall
        self.events: list[ApprovalEvent] = []

    def one(self, sql: str, *params: object) -> ApprovalRequest | None:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else ApprovalRequest.model_validate_json(row[0])

    def all(self, sql: str, *params: object) -> list[ApprovalRequest]:
        rows = self.conn.execute(sql, params).fetchall()
        return [ApprovalRequest.model_validate_json(body) for (body,) in rows]

    def insert(self, r: ApprovalRequest) -> None:
        self.conn.execute(
            "INSERT INTO approvals (id, intent, target, state, created_ts, expires_ts, "
            "decided_ts, settled, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                r.intent_hash,
                r.proposal.action.target,
                r.state.value,
                r.created_at.timestamp(),
                r.expires_at.timestamp(),
                r.decided_at.timestamp() if r.decided_at else None,
                0,
                r.model_dump_json(),
            ),
        )

    def update(self, r: ApprovalRequest, *, expect: ApprovalState) -> bool:
        """Write `r` only if the stored state is still `expect` (compare-and-set)."""
        cur = self.conn.execute(
            "UPDATE approvals SET state = ?, decided_ts = ?, settled = ?, body = ? "
            "WHERE id = ? AND state = ?",
            (
                r.state.value,
                r.decided_at.timestamp() if r.decided_at else None,
                int(r.outcome is not None),
                r.model_dump_json(),
                r.id,
                expect.value,
            ),
        )
        return cur.rowcount == 1

    def event(
        self,
        kind: EventKind,
        request_id: str | None,
        actor: str | None = None,
        channel: str | None = None,
        detail: str | None = "",
    ) -> None:
        cur = self.conn.execute(
            "INSERT INTO events (request_id, kind, actor, channel, detail, at, at_ts, "
            "recorded_at, recorded_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                kind.value,
                actor,
                channel,
                detail or "",
                self.now.isoformat(),
                self.now.timestamp(),
                self.wall.isoformat(),
                self.wall.timestamp(),
            ),
        )
        self.events.append(
            ApprovalEvent(
                seq=int(cur.lastrowid or 0),
                kind=kind,
                request_id=request_id,
                actor=actor,
                channel=channel,
                detail=detail or "",
                at=self.now,
                recorded_at=self.wall,
            )
        )


def event_from_row(row: tuple[Any, ...]) -> ApprovalEvent:
    seq, request_id, kind, actor, channel, detail, at, _, recorded_at, _ = row
    return ApprovalEvent(
        seq=seq,
        kind=EventKind(kind),
        request_id=request_id,
        actor=actor,
        channel=channel,
        detail=detail,
        at=datetime.fromisoformat(at),
        recorded_at=datetime.fromisoformat(recorded_at),
    )
