"""The plumbing every gpusteward SQLite file shares (the journal, the approval store):
open in WAL mode, create the schema in a blank file, refuse another program's file or
another schema version with a message naming the file and the fix, and close once.

A store describes its file with a `FileFormat` and subclasses `SqliteFile`; what it keeps
in its tables stays its own. Every file also has the two bookkeeping tables created here:
`schema_version`, and `meta` (key/value, read and written with `read_meta`/`write_meta`).
Errors are `JournalError` (a gpusteward file that cannot be used), never a bare
`sqlite3.Error`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpusteward.core.closing import Closing
from gpusteward.core.errors import JournalError

__all__ = ["FileFormat", "SqliteFile", "open_file", "read_meta", "rollback", "write_meta"]


# The bookkeeping tables of every gpusteward file, created before the store's own:
# the schema version `_check_ours` reads back, and a key/value table for what a store
# records about the file as a whole (the journal's scenario, the approval store's pause).
BOOKKEEPING: tuple[str, ...] = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
)


@dataclass(frozen=True)
class FileFormat:
    """What one kind of gpusteward SQLite file is, and how a person gets past a bad one."""

    what: str  # "journal", "approval store": the start of every message
    application_id: int  # PRAGMA application_id: marks the file as ours
    schema_version: int
    schema: tuple[str, ...]  # the store's own CREATE statements, run once in a blank file
    fix: str  # "pass another --journal path, or --fresh ..."
    busy_timeout_ms: int = 5000  # how long to wait for another writer


def open_file(
    path: Path,
    fmt: FileFormat,
    *,
    seed: Callable[[sqlite3.Connection], None] | None = None,
) -> sqlite3.Connection:
    """Open (creating if new) `path` as a file of `fmt`, autocommit (the caller issues
    BEGIN IMMEDIATE / COMMIT), WAL, synchronous=NORMAL. `seed` writes the first rows
    of a new file inside the transaction that creates its schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as e:
        raise JournalError(
            f"{fmt.what} {path}: cannot open ({e}); check that the directory is writable, "
            f"or {fmt.fix}"
        ) from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(fmt.busy_timeout_ms)}")
        _create_if_blank(conn, fmt, seed)
        _check_ours(conn, path, fmt)  # before any PRAGMA that would change another's file
        # WAL + synchronous=NORMAL is durable against a process crash (kill -9, OOM): a
        # committed transaction is in the WAL file, which the OS keeps. Surviving power
        # loss would need synchronous=FULL (an fsync per commit), at a large cost per tick.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as e:
        conn.close()
        raise JournalError(
            f"{fmt.what} {path}: not a readable SQLite file ({e}); it may be corrupt or "
            f"another program's file: {fmt.fix}"
        ) from e
    except BaseException:
        conn.close()
        raise
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already undone it after an error."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    """The file's `meta` value under `key`, None when it was never written."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def write_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    """Set the file's `meta` value under `key` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


class SqliteFile(Closing):
    """A store on one SQLite file, shared between the threads of one process: the
    connection behind a lock, closed once; later use raises `JournalError`."""

    def __init__(
        self,
        path: Path,
        fmt: FileFormat,
        *,
        seed: Callable[[sqlite3.Connection], None] | None = None,
        lock: threading.Lock | threading.RLock | None = None,
    ) -> None:
        self._path = Path(path)
        self._format = fmt
        self._lock = lock or threading.Lock()
        self._conn: sqlite3.Connection | None = open_file(self._path, fmt, seed=seed)

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open_conn(self) -> sqlite3.Connection:
        """The connection; call with the lock held."""
        if self._conn is None:
            raise JournalError(
                f"{self._format.what} {self._path} is closed; open it again to go on"
            )
        return self._conn


def _is_blank(conn: sqlite3.Connection) -> bool:
    """True for a new or empty SQLite file: no tables and no application id yet."""
    tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    return bool(tables == 0 and app_id == 0)


def _create_if_blank(
    conn: sqlite3.Connection,
    fmt: FileFormat,
    seed: Callable[[sqlite3.Connection], None] | None,
) -> None:
    if not _is_blank(conn):
        return
    conn.execute("PRAGMA journal_mode = WAL")  # must be set outside a transaction
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _is_blank(conn):  # another process may have created it meanwhile
            for statement in (*BOOKKEEPING, *fmt.schema):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (fmt.schema_version,))
            if seed is not None:
                seed(conn)
            conn.execute(f"PRAGMA application_id = {int(fmt.application_id)}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _check_ours(conn: sqlite3.Connection, path: Path, fmt: FileFormat) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id != fmt.application_id:
        raise JournalError(
            f"{fmt.what} {path}: a SQLite file, but not a gpusteward {fmt.what} "
            f"(application_id={app_id:#x}, expected {fmt.application_id:#x}); {fmt.fix}"
        )
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    version = row[0] if row else None
    if version != fmt.schema_version:
        raise JournalError(
            f"{fmt.what} {path}: schema version {version}, this gpusteward reads version "
            f"{fmt.schema_version}; use the gpusteward release that wrote it, or {fmt.fix}"
        )
