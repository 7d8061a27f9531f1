"""Operator notes written in the chat: "launch at 09:00 UTC tomorrow, expect 3x on m-large".

`/intent DEPLOYMENT TEXT` (web chat and Slack alike) records a note for a deployment in
the approval store's SQLite file (its own `notes` table, added beside the approval tables;
every note is kept, the newest per deployment is the one in force; `/intent DEPLOYMENT
clear` ends it). `NotedSource` wraps the daemon's `ClusterSource`: each snapshot's
deployments carry their note in `ModelDeployment.intent` (after a Kubernetes annotation's
note, when there is one), stamped with when and by whom it was written, so a planner
reads relative dates ("tomorrow") against the time they were written. The journal
records the snapshot, so a replay sees the same note. A note is data for the planner;
what it may lead to is a `schedule` proposal that the guard sends to a person.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pydantic import Field

from gpusteward.chat.schema import FORMAT
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.errors import InputError
from gpusteward.core.model import Frozen
from gpusteward.core.ports import ClusterSource
from gpusteward.core.sqlite_files import SqliteFile

MAX_CHARS: Final = 500
IN_FORCE: Final = timedelta(days=7)  # a note older than this no longer reaches the planner
_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS notes (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " deployment TEXT NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL,"
    " channel TEXT NOT NULL, written_ts REAL NOT NULL)"
)


class OperatorNote(Frozen):
    deployment: str
    text: str = Field(max_length=MAX_CHARS)
    author: str
    channel: str
    written_at: datetime

    def stamped(self) -> str:
        """The note as the planner reads it: the words, then when and by whom."""
        return (
            f"{self.text} (written {self.written_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC by "
            f"{self.author} in the chat)"
        )


class NoteBook(SqliteFile):
    """Notes in an approval store file (a connection of its own; SQLite WAL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, FORMAT)
        self._open_conn().execute(_TABLE)

    def write(
        self, deployment: str, text: str, *, by: str, channel: str, now: datetime
    ) -> OperatorNote:
        """Record `text` as `deployment`'s note (an empty text ends the note in force)."""
        text = " ".join(text.split())
        if len(text) > MAX_CHARS:
            raise InputError(
                f"note for {deployment}: {len(text)} characters, at most {MAX_CHARS}. Fix: say "
                "when, how much and for how long in fewer words."
            )
        note = OperatorNote(
            deployment=deployment, text=text, author=by, channel=channel, written_at=now
        )
        with self._lock:
            self._db().execute(
                "INSERT INTO notes (deployment, text, author, channel, written_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (deployment, text, by, channel, now.timestamp()),
            )
        return note

    def in_force(self, now: datetime) -> dict[str, OperatorNote]:
        """The newest note per deployment written within `IN_FORCE` of `now` (not ended)."""
        since = (now - IN_FORCE).timestamp()
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT deployment, text, author, channel, written_ts FROM notes "
                    "WHERE written_ts >= ? AND written_ts <= ? ORDER BY seq",
                    (since, now.timestamp()),
                )
                .fetchall()
            )
        latest: dict[str, OperatorNote] = {}
        for deployment, text, author, channel, ts in rows:
            latest[deployment] = OperatorNote(
                deployment=deployment,
                text=text,
                author=author,
                channel=channel,
                written_at=datetime.fromtimestamp(ts, UTC),
            )
        return {k: n for k, n in latest.items() if n.text}

    def _db(self) -> sqlite3.Connection:
        return self._open_conn()


class NotedSource:
    """A `ClusterSource` whose snapshots carry the chat's notes on their deployments."""

    def __init__(self, source: ClusterSource, notes: NoteBook) -> None:
        self.source = source
        self.notes = notes

    def snapshot(self) -> ClusterSnapshot:
        snap = self.source.snapshot()
        notes = self.notes.in_force(snap.at)
        if not notes:
            return snap
        deployments = tuple(
            d.model_copy(
                update={
                    "intent": "\n".join(t for t in (d.intent, notes[d.key].stamped()) if t)[:2000]
                }
            )
            if d.key in notes
            else d
            for d in snap.deployments
        )
        return snap.model_copy(update={"deployments": deployments})

    def __getattr__(self, name: str) -> object:  # the wrapped source's other ports
        return getattr(self.source, name)
