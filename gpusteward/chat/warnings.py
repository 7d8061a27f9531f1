"""The diagnostics' warnings in the chat: each posted once when it opens, again when it
turns critical, and a resolve message when its condition clears; `/warnings` lists the
open ones and `/why WARNING-ID` answers with the evidence, cause and remedy.

The daemon's tick hands each tick's warnings to `WarningBoard.post` (its `on_tick`); the
web chat and Slack subscribe to the posts. The board is memory only: the journal keeps
every warning, and a restarted daemon's diagnostics open fresh ones.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from gpusteward.core.diagnosis import DiagnosticWarning, Severity
from gpusteward.core.errors import InputError
from gpusteward.core.model import Frozen
from gpusteward.core.tick import TickRecord

PostKind = Literal["opened", "escalated", "resolved"]
KEEP_POSTS = 200


class WarningPost(Frozen):
    kind: PostKind
    warning: DiagnosticWarning
    at: datetime

    def text(self) -> str:
        w = self.warning
        if self.kind == "resolved":
            return f"✅ resolved: {w.flag.value} on {w.deployment} — {w.id}"
        icon = "🔴" if w.severity is Severity.CRITICAL else "⚠️"
        verb = "now critical" if self.kind == "escalated" else w.severity.value
        remedy = f" — proposed: {w.remedy.action.describe()}" if w.remedy else ""
        return (
            f"{icon} {verb}: {w.flag.value} on {w.deployment}: {w.summary}. Likely cause: "
            f"{w.cause.value}{remedy}. /why {w.id}"
        )


class WarningBoard:
    """Which warnings are open (by id), the recent posts, and who listens. Thread-safe:
    the daemon posts from its loop, the chat reads from its request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, DiagnosticWarning] = {}
        self._known: dict[str, DiagnosticWarning] = {}  # every warning seen, newest state
        self._posts: deque[WarningPost] = deque(maxlen=KEEP_POSTS)
        self._listeners: list[Callable[[WarningPost], None]] = []

    def subscribe(self, listener: Callable[[WarningPost], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def post(self, warnings: Sequence[DiagnosticWarning], at: datetime) -> list[WarningPost]:
        """Post what changed in this tick's warnings: a new id, a warning turned critical,
        a resolved one. A warning already posted in the same state is not posted again."""
        posts: list[WarningPost] = []
        with self._lock:
            for w in warnings:
                before = self._open.get(w.id)
                self._known[w.id] = w
                if w.resolved:
                    if self._open.pop(w.id, None) is not None:
                        posts.append(WarningPost(kind="resolved", warning=w, at=at))
                    continue
                self._open[w.id] = w
                if before is None:
                    posts.append(WarningPost(kind="opened", warning=w, at=at))
                elif w.severity is Severity.CRITICAL and before.severity is not Severity.CRITICAL:
                    posts.append(WarningPost(kind="escalated", warning=w, at=at))
            self._posts.extend(posts)
            listeners = list(self._listeners)
        for p in posts:
            for listener in listeners:
                listener(p)
        return posts

    def open(self) -> list[DiagnosticWarning]:
        with self._lock:
            return list(self._open.values())

    def posts(self, limit: int = 50) -> list[WarningPost]:
        with self._lock:
            return list(self._posts)[-limit:]

    def find(self, ref: str) -> DiagnosticWarning | None:
        """The warning whose id is `ref` or starts with it; None when no id matches;
        InputError when several do (naming them)."""
        with self._lock:
            if ref in self._known:
                return self._known[ref]
            hits = [k for k in self._known if k.startswith(ref)]
            if len(hits) > 1:
                raise InputError(
                    f"/why {ref}: {len(hits)} warnings match ({', '.join(sorted(hits)[:5])}). "
                    "Fix: give more of the id"
                )
            return self._known[hits[0]] if hits else None


def warning_lines(board: WarningBoard) -> list[str]:
    """What `/warnings` answers."""
    open_ = board.open()
    if not open_:
        return ["no open warnings"]
    lines = [f"{len(open_)} open warning(s):"]
    for w in sorted(open_, key=lambda w: (w.severity is not Severity.CRITICAL, w.opened_at)):
        lines.append(
            f"• {w.id} — {w.severity.value}: {w.flag.value} on {w.deployment} since "
            f"{w.opened_at:%H:%M} UTC — {w.summary}"
        )
    return lines


def posting(
    board: WarningBoard, then: Callable[[TickRecord], None] | None = None
) -> Callable[[TickRecord], None]:
    """An `on_tick` that posts the tick record's warnings to the board, then calls `then`."""

    def on_tick(record: TickRecord) -> None:
        if record.warnings:
            board.post(record.warnings, record.at)
        if then is not None:
            then(record)

    return on_tick
