"""The approval store's SQLite file: its schema and format (opened by
`gpusteward.core.sqlite_files`, as the journal is)."""

from __future__ import annotations

from typing import Final

from gpusteward.core.sqlite_files import FileFormat

SCHEMA_VERSION: Final = 1
APPLICATION_ID: Final = 0x47505341  # "GPSA": a gpusteward approval store
_FIX: Final = "pass another approvals file (GPUSTEWARD_APPROVALS), or delete this one"

_SCHEMA: Final = (
    "CREATE TABLE approvals (id TEXT PRIMARY KEY, intent TEXT NOT NULL, target TEXT NOT NULL,"
    " state TEXT NOT NULL, created_ts REAL NOT NULL, expires_ts REAL NOT NULL,"
    " decided_ts REAL, settled INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL)",
    "CREATE INDEX approvals_state ON approvals (state, expires_ts)",
    "CREATE INDEX approvals_intent ON approvals (intent, state)",
    "CREATE INDEX approvals_target ON approvals (target, state)",
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT,"
    " kind TEXT NOT NULL, actor TEXT, channel TEXT, detail TEXT NOT NULL, at TEXT NOT NULL,"
    " at_ts REAL NOT NULL, recorded_at TEXT NOT NULL, recorded_ts REAL NOT NULL)",
    "CREATE INDEX events_recorded ON events (recorded_ts)",
    "CREATE TABLE threads (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
    " author TEXT NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE TABLE refs (request_id TEXT NOT NULL, place TEXT NOT NULL, ref TEXT NOT NULL,"
    " PRIMARY KEY (request_id, place))",
)


FORMAT: Final = FileFormat(
    what="approval store",
    application_id=APPLICATION_ID,
    schema_version=SCHEMA_VERSION,
    schema=_SCHEMA,
    fix=_FIX,
    busy_timeout_ms=10_000,  # chat clients and the daemon write the same file
)
