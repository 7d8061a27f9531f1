"""The SQLite journal: the durable, append-only record of ticks, plus the latest checkpoint.

`SqliteJournal` implements the `Journal` port on one SQLite file in WAL mode. Each
`append` is one transaction: the tick, one row per action result and the checkpoint are
written together or not at all, so a process killed mid-write leaves every committed
tick complete and nothing of the one in flight. This module depends only on
`gpusteward.core`; the composition root decides where the file lives.

Which action ids count as executed (`EXECUTED_STATUSES`): `applied`, and `duplicate`
(the backend reported the id had already run). An id executed for real must never run
again. `dry_run`, `failed` and `superseded` ids changed nothing, so they may run again
for real; once an id is recorded as executed, a later result never downgrades it.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from gpusteward.core.errors import JournalError
from gpusteward.core.sqlite_files import FileFormat, SqliteFile, read_meta, rollback, write_meta
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import EXECUTED_STATUSES

SCHEMA_VERSION: Final = 1
APPLICATION_ID: Final = 0x47505354  # "GPST" in the SQLite header: marks our files.
_ZLIB_LEVEL: Final = 1  # fast: a tick is written every interval; size is secondary.
_PAGE: Final = 256  # rows fetched per query by `ticks()`; no cursor stays open between.
_FIX_PATH: Final = "pass another --journal path, or --fresh to start a new journal"

_SCHEMA: Final = (
    "CREATE TABLE ticks (seq INTEGER PRIMARY KEY CHECK (seq >= 0), at TEXT NOT NULL,"
    " record BLOB NOT NULL)",
    "CREATE TABLE actions (action_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL)",
    "CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " data BLOB NOT NULL)",
)
_FORMAT: Final = FileFormat(
    what="journal",
    application_id=APPLICATION_ID,
    schema_version=SCHEMA_VERSION,
    schema=_SCHEMA,
    fix=_FIX_PATH,
)
_EXECUTED_SQL: Final = ", ".join(f"'{s.value}'" for s in sorted(EXECUTED_STATUSES))
# One row per action id. A later result replaces an earlier one, except that an
# executed id is never downgraded (a dry run or failure after it changes nothing).
_UPSERT_ACTION: Final = (
    "INSERT INTO actions (action_id, seq, status) VALUES (?, ?, ?) "
    "ON CONFLICT (action_id) DO UPDATE SET seq = excluded.seq, status = excluded.status "
    f"WHERE actions.status NOT IN ({_EXECUTED_SQL})"
)


class SqliteJournal(SqliteFile):
    """A `Journal` on one SQLite file; safe to share between threads of one process.

    `scenario_id` binds a new journal to the scenario it records; reopening it with a
    different (non-None) id raises `JournalError`. `None` opens any journal as it is.
    """

    def __init__(self, path: Path, *, scenario_id: str | None = None) -> None:
        def seed(conn: sqlite3.Connection) -> None:
            write_meta(conn, "scenario_id", scenario_id)

        super().__init__(path, _FORMAT, seed=seed)
        try:
            self._scenario_id = self._check_scenario(scenario_id)
        except BaseException:
            self.close()
            raise

    # -- the Journal port ---------------------------------------------------------

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        """Write the tick, its action rows and the checkpoint in one transaction."""
        _check_checkpoint(checkpoint)
        blob = zlib.compress(record.model_dump_json().encode(), _ZLIB_LEVEL)
        rows = [(r.action_id, record.seq, r.status.value) for r in record.results]
        with self._lock:
            conn = self._open_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    expected = _next_seq(conn)
                    if record.seq != expected:
                        raise JournalError(_seq_message(self._path, record.seq, expected))
                    conn.execute(
                        "INSERT INTO ticks (seq, at, record) VALUES (?, ?, ?)",
                        (record.seq, record.at.isoformat(), blob),
                    )
                    conn.executemany(_UPSERT_ACTION, rows)
                    if checkpoint is not None:
                        conn.execute(
                            "INSERT INTO checkpoint (id, seq, data) VALUES (1, ?, ?) "
                            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
                            "data = excluded.data",
                            (record.seq, checkpoint),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as e:
                raise self._io_error(f"appending tick seq={record.seq}", e) from e

    def next_seq(self) -> int:
        with self._lock:
            return _next_seq(self._open_conn())

    def tail(self, n: int) -> list[TickRecord]:
        """The last `n` records, oldest first."""
        if n < 0:
            raise ValueError(f"tail(n={n}): expected n >= 0 (how many records to return)")
        rows = self._query(
            "SELECT seq, record FROM (SELECT seq, record FROM ticks ORDER BY seq DESC LIMIT ?)"
            " ORDER BY seq",
            (n,),
        )
        return [self._decode(seq, blob) for seq, blob in rows]

    def executed_action_ids(self) -> set[str]:
        rows = self._query(f"SELECT action_id FROM actions WHERE status IN ({_EXECUTED_SQL})")
        return {str(action_id) for (action_id,) in rows}

    def latest_checkpoint(self) -> bytes | None:
        rows = self._query("SELECT data FROM checkpoint WHERE id = 1")
        return bytes(rows[0][0]) if rows else None

    # -- beyond the port ----------------------------------------------------------

    @property
    def scenario_id(self) -> str | None:
        """The scenario this journal records, as stored in the file."""
        return self._scenario_id

    def ticks(self, from_seq: int = 0) -> Iterator[TickRecord]:
        """Every record with seq >= `from_seq`, in order; reads a page at a time."""
        seq = from_seq
        while True:
            rows = self._query(
                "SELECT seq, record FROM ticks WHERE seq >= ? ORDER BY seq LIMIT ?", (seq, _PAGE)
            )
            for row_seq, blob in rows:
                yield self._decode(row_seq, blob)
            if len(rows) < _PAGE:
                return
            seq = int(rows[-1][0]) + 1

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM ticks")[0][0])

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self._path)!r}, scenario_id={self._scenario_id!r})"

    # -- opening ------------------------------------------------------------------

    def _check_scenario(self, scenario_id: str | None) -> str | None:
        """The scenario the file records; refuse a journal of another scenario."""
        with self._lock:
            try:
                stored = read_meta(self._open_conn(), "scenario_id")
            except sqlite3.Error as e:
                raise self._io_error("reading its scenario", e) from e
        if scenario_id is not None and stored != scenario_id:
            recorded = "no scenario" if stored is None else f"scenario {stored!r}"
            raise JournalError(
                f"journal {self._path} records {recorded}, but was opened for "
                f"scenario {scenario_id!r}; one journal holds one scenario: {_FIX_PATH}"
            )
        return stored

    # -- reading ------------------------------------------------------------------

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._open_conn()
            try:
                return conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as e:
                raise self._io_error("reading", e) from e

    def _decode(self, seq: object, blob: object) -> TickRecord:
        try:
            if not isinstance(blob, bytes):
                raise TypeError(f"record is {type(blob).__name__}, expected bytes")
            return TickRecord.model_validate_json(zlib.decompress(blob))
        except (zlib.error, TypeError, ValidationError) as e:
            raise JournalError(
                f"journal {self._path}: tick seq={seq} cannot be decoded ({e}); the file is "
                f"corrupt or was written by another version: {_FIX_PATH}"
            ) from e

    def _io_error(self, doing: str, e: sqlite3.Error) -> JournalError:
        return JournalError(
            f"journal {self._path}: SQLite error while {doing}: {e}; check the disk and "
            f"file permissions, or {_FIX_PATH}"
        )


def _next_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM ticks").fetchone()[0])


def _seq_message(path: Path, seq: int, expected: int) -> str:
    return (
        f"journal {path}: tick seq={seq} rejected, expected seq={expected}; the journal "
        "is append-only with no gaps: build the record with seq=journal.next_seq()"
    )


def _check_checkpoint(checkpoint: object) -> None:
    if checkpoint is not None and not isinstance(checkpoint, bytes):
        raise TypeError(
            f"checkpoint is {type(checkpoint).__name__}, expected bytes or None; "
            "serialise it first (e.g. model_dump_json().encode())"
        )
