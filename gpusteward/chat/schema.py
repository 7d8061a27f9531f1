"""The approval store's SQLite file: schema, version check and connection settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from gpusteward.core.errors import JournalError

SCHEMA_VERSION: Final = 1
APPLICATION_ID: Final = 0x47505341  # "GPSA": a gpusteward approval store
_FIX: Final = "pass another approvals file (GPUSTEWARD_APPROVALS), or delete this one"

_SCHEMA: Final = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
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


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if new) an approval store file in WAL mode, autocommit."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        raise JournalError(f"approval store {path}: cannot open ({e}); {_FIX}") from e
    try:
        conn.execute("PRAGMA busy_timeout = 10000")  # ms to wait for another writer
        conn.execute("PRAGMA journal_mode = WAL")
        # Durable against a process crash (kill -9): a committed decision is in the WAL.
        conn.execute("PRAGMA synchronous = NORMAL")
        _create_if_blank(conn)
        _check_ours(conn, path)
    except sqlite3.Error as e:
        conn.close()
        raise JournalError(
            f"approval store {path}: not a readable SQLite file ({e}); {_FIX}"
        ) from e
    except BaseException:
        conn.close()
        raise
    return conn


def _create_if_blank(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if tables == 0 and app_id == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id != APPLICATION_ID:
        raise JournalError(
            f"approval store {path}: a SQLite file, but not a gpusteward approval store "
            f"(application_id={app_id:#x}, expected {APPLICATION_ID:#x}); {_FIX}"
        )
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    if row is None or row[0] != SCHEMA_VERSION:
        raise JournalError(
            f"approval store {path}: schema version {row[0] if row else None}, this "
            f"gpusteward reads version {SCHEMA_VERSION}; {_FIX}"
        )
