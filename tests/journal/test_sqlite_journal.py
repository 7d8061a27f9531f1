"""SqliteJournal beyond the shared contract: the file, bad files, atomicity, speed."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.errors import JournalError
from gpusteward.testing import make_snapshot, make_tick_record


def raw(path: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run SQL on the file behind the journal's back; returns the last statement's rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        rows: list[tuple[object, ...]] = []
        for sql in statements:
            rows = conn.execute(sql).fetchall()
        return rows
    finally:
        conn.close()


def test_creates_parent_directories_and_a_wal_mode_file(db_path: Path) -> None:
    SqliteJournal(db_path).close()

    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_an_empty_file_becomes_a_new_journal(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()

    with SqliteJournal(db_path) as j:
        assert j.next_seq() == 0


def test_append_writes_tick_action_and_checkpoint_rows(db_path: Path) -> None:
    record = make_tick_record(0)
    with SqliteJournal(db_path) as j:
        j.append(record, checkpoint=b"cp")

    assert raw(db_path, "SELECT seq, at FROM ticks") == [(0, record.at.isoformat())]
    assert raw(db_path, "SELECT action_id, seq, status FROM actions") == [
        (record.results[0].action_id, 0, "applied")
    ]
    assert raw(db_path, "SELECT id, seq, data FROM checkpoint") == [(1, 0, b"cp")]


# -- files that are not (usable) journals -------------------------------------------


def test_a_non_sqlite_file_is_refused_with_path_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database\n" * 100)

    with pytest.raises(JournalError, match=r"notes\.txt.*not a readable SQLite file.*--journal"):
        SqliteJournal(path)


def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw(path, "CREATE TABLE users (id INTEGER)")

    with pytest.raises(JournalError, match=r"other\.db.*not a gpusteward journal.*--fresh"):
        SqliteJournal(path)
    assert raw(path, "SELECT name FROM sqlite_master") == [("users",)]  # left untouched


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=str(tmp_path)):
        SqliteJournal(tmp_path)


def test_a_journal_of_another_schema_version_is_refused(db_path: Path) -> None:
    SqliteJournal(db_path).close()
    raw(db_path, "UPDATE schema_version SET version = 99")

    with pytest.raises(JournalError, match="schema version 99"):
        SqliteJournal(db_path)


def test_a_corrupt_record_is_reported_with_its_seq(db_path: Path) -> None:
    with SqliteJournal(db_path) as j:
        j.append(make_tick_record(0))
        j.append(make_tick_record(1))
    raw(db_path, "UPDATE ticks SET record = x'00ff00ff' WHERE seq = 1")

    with SqliteJournal(db_path) as j, pytest.raises(JournalError, match="seq=1 cannot be decoded"):
        j.tail(2)


# -- atomicity ------------------------------------------------------------------------


def test_a_failure_after_the_tick_row_rolls_the_tick_back(db_path: Path) -> None:
    """The checkpoint write fails after the tick row went in: nothing of it may stay."""
    with SqliteJournal(db_path) as j:
        j.append(make_tick_record(0), checkpoint=b"cp-0")
        raw(
            db_path,
            "CREATE TRIGGER fail_checkpoint BEFORE UPDATE ON checkpoint "
            "BEGIN SELECT RAISE(ABORT, 'injected checkpoint failure'); END",
        )

        with pytest.raises(JournalError, match="injected checkpoint failure"):
            j.append(make_tick_record(1), checkpoint=b"cp-1")

        assert (j.count(), j.next_seq(), j.latest_checkpoint()) == (1, 1, b"cp-0")
        assert len(j.executed_action_ids()) == 1
        raw(db_path, "DROP TRIGGER fail_checkpoint")
        j.append(make_tick_record(1), checkpoint=b"cp-1")  # the seq was not used up
        assert j.latest_checkpoint() == b"cp-1"


# -- speed ----------------------------------------------------------------------------


def test_2000_appends_of_a_64_gpu_tick_take_under_2_seconds(db_path: Path) -> None:
    """20,000 ticks must append in a few seconds; 2,000 here must take under 2 s."""
    snapshot = make_snapshot(nodes=8, gpus_per_node=8)
    records = [make_tick_record(i, snapshot=snapshot) for i in range(2_000)]
    with SqliteJournal(db_path) as j:
        start = time.perf_counter()
        for r in records:
            j.append(r, checkpoint=b"c" * 256)
        elapsed = time.perf_counter() - start

    assert elapsed < 2.0, f"2,000 appends took {elapsed:.2f} s"
