"""The `Journal` conformance suite: every implementation must pass all of it.

Parametrized over `InMemoryJournal` and `SqliteJournal` through the `journal`
fixture; the reopen tests at the end apply only to the durable one.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.core.errors import JournalError
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ActionResult, ResultStatus
from gpusteward.testing import T0, InMemoryJournal, make_tick_record

AnyJournal = InMemoryJournal | SqliteJournal


def fill(journal: AnyJournal, n: int) -> list[TickRecord]:
    records = [make_tick_record(journal.next_seq() + i) for i in range(n)]
    for r in records:
        journal.append(r)
    return records


def state(journal: AnyJournal) -> tuple[object, ...]:
    """Everything observable about a journal, to compare before and after."""
    return (
        journal.count(),
        journal.next_seq(),
        [r.model_dump_json() for r in journal.tail(10_000)],
        sorted(journal.executed_action_ids()),
        journal.latest_checkpoint(),
    )


def result_only(seq: int, action_id: str, status: ResultStatus) -> TickRecord:
    at = T0 + timedelta(minutes=seq)
    return TickRecord(
        seq=seq,
        at=at,
        snapshot=None,
        results=(ActionResult(action_id=action_id, status=status, at=at),),
    )


# -- appending and reading ----------------------------------------------------------


def test_new_journal_is_empty(journal: AnyJournal) -> None:
    assert state(journal) == (0, 0, [], [], None)


def test_append_then_tail_round_trips_the_record_exactly(journal: AnyJournal) -> None:
    record = make_tick_record(0)

    journal.append(record)

    [back] = journal.tail(1)
    assert back == record
    assert back.model_dump_json() == record.model_dump_json()


def test_tail_returns_the_last_n_records_oldest_first(journal: AnyJournal) -> None:
    fill(journal, 5)

    assert [r.seq for r in journal.tail(3)] == [2, 3, 4]
    assert [r.seq for r in journal.tail(99)] == [0, 1, 2, 3, 4]
    assert journal.tail(0) == []


def test_tail_rejects_a_negative_count(journal: AnyJournal) -> None:
    with pytest.raises(ValueError, match="n=-1"):
        journal.tail(-1)


def test_next_seq_and_count_follow_appends(journal: AnyJournal) -> None:
    fill(journal, 3)

    assert (journal.next_seq(), journal.count()) == (3, 3)


def test_ticks_streams_from_a_seq_in_order_across_pages(journal: AnyJournal) -> None:
    fill(journal, 300)  # more than SqliteJournal reads per page (256)

    assert [r.seq for r in journal.ticks()] == list(range(300))
    assert [r.seq for r in journal.ticks(from_seq=250)] == list(range(250, 300))


# -- append-only, contiguous seq ----------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "why"), [(0, "rewrite first"), (2, "rewrite last"), (4, "gap"), (40, "far gap")]
)
def test_seq_must_be_the_next_one(journal: AnyJournal, seq: int, why: str) -> None:
    fill(journal, 3)

    with pytest.raises(JournalError, match=rf"seq={seq} rejected, expected seq=3"):
        journal.append(make_tick_record(seq))


def test_first_seq_must_be_zero(journal: AnyJournal) -> None:
    with pytest.raises(JournalError, match="expected seq=0"):
        journal.append(make_tick_record(1))


@pytest.mark.parametrize("failure", ["seq gap", "seq rewrite", "checkpoint not bytes"])
def test_a_failing_append_leaves_the_journal_unchanged(journal: AnyJournal, failure: str) -> None:
    fill(journal, 2)
    journal.append(make_tick_record(2), checkpoint=b"cp-2")
    before = state(journal)

    with pytest.raises((JournalError, TypeError)):
        if failure == "seq gap":
            journal.append(make_tick_record(5), checkpoint=b"cp-5")
        elif failure == "seq rewrite":
            journal.append(make_tick_record(1, status=ResultStatus.APPLIED), checkpoint=b"x")
        else:
            journal.append(make_tick_record(3), checkpoint="cp-3")  # type: ignore[arg-type]

    assert state(journal) == before


# -- checkpoint ---------------------------------------------------------------------


def test_checkpoint_is_written_with_its_tick_and_kept_until_replaced(
    journal: AnyJournal,
) -> None:
    journal.append(make_tick_record(0), checkpoint=b"after-0")
    assert journal.latest_checkpoint() == b"after-0"

    journal.append(make_tick_record(1))
    assert journal.latest_checkpoint() == b"after-0"

    journal.append(make_tick_record(2), checkpoint=b"after-2")
    assert journal.latest_checkpoint() == b"after-2"


def test_a_rejected_tick_does_not_write_its_checkpoint(journal: AnyJournal) -> None:
    journal.append(make_tick_record(0), checkpoint=b"good")

    with pytest.raises(JournalError):
        journal.append(make_tick_record(7), checkpoint=b"from-a-rejected-tick")

    assert journal.latest_checkpoint() == b"good"


# -- executed action ids ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "executed"),
    [
        (ResultStatus.APPLIED, True),
        (ResultStatus.DUPLICATE, True),
        (ResultStatus.DRY_RUN, False),
        (ResultStatus.FAILED, False),
        (ResultStatus.SUPERSEDED, False),
    ],
)
def test_only_applied_or_duplicate_ids_count_as_executed(
    journal: AnyJournal, status: ResultStatus, executed: bool
) -> None:
    journal.append(result_only(0, "scale-abc", status))

    assert ("scale-abc" in journal.executed_action_ids()) is executed


def test_a_dry_run_id_may_later_be_executed_for_real(journal: AnyJournal) -> None:
    journal.append(result_only(0, "scale-abc", ResultStatus.DRY_RUN))
    journal.append(result_only(1, "scale-abc", ResultStatus.APPLIED))

    assert journal.executed_action_ids() == {"scale-abc"}


@pytest.mark.parametrize("later", [ResultStatus.DRY_RUN, ResultStatus.FAILED])
def test_an_executed_id_is_never_downgraded(journal: AnyJournal, later: ResultStatus) -> None:
    journal.append(result_only(0, "scale-abc", ResultStatus.APPLIED))
    journal.append(result_only(1, "scale-abc", later))

    assert journal.executed_action_ids() == {"scale-abc"}


# -- lifecycle ----------------------------------------------------------------------


def test_a_closed_journal_refuses_use(journal: AnyJournal) -> None:
    journal.close()
    journal.close()  # idempotent

    with pytest.raises(JournalError, match="closed"):
        journal.next_seq()
    with pytest.raises(JournalError, match="closed"):
        journal.append(make_tick_record(0))


def test_the_context_manager_closes_the_journal(journal: AnyJournal) -> None:
    with journal as j:
        j.append(make_tick_record(0))

    with pytest.raises(JournalError, match="closed"):
        journal.tail(1)


# -- the implementations agree ------------------------------------------------------

_ops = st.lists(
    st.tuples(
        st.integers(min_value=-2, max_value=2),  # seq offset from next_seq()
        st.sampled_from(["a", "b", "c"]),  # action id
        st.sampled_from(list(ResultStatus)),
        st.booleans(),  # with a checkpoint
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_memory_and_sqlite_journals_agree_on_any_append_sequence(
    ops: list[tuple[int, str, ResultStatus, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory = InMemoryJournal()
        sqlite = SqliteJournal(Path(tmp) / "journal.db")
        for offset, action_id, status, with_checkpoint in ops:
            seq = memory.next_seq() + offset
            if seq < 0:
                continue
            record = result_only(seq, action_id, status)
            checkpoint = f"cp-{seq}".encode() if with_checkpoint else None
            outcomes = []
            for j in (memory, sqlite):
                try:
                    j.append(record, checkpoint)
                    outcomes.append("ok")
                except JournalError:
                    outcomes.append("rejected")
            assert outcomes[0] == outcomes[1]
        assert state(memory) == state(sqlite)
        assert [r.seq for r in sqlite.ticks()] == list(range(sqlite.count()))
        sqlite.close()


# -- durability (SQLite only) -------------------------------------------------------


def test_records_executed_ids_and_checkpoint_survive_reopen(db_path: Path) -> None:
    with SqliteJournal(db_path) as j:
        records = fill(j, 3)
        j.append(make_tick_record(3, status=ResultStatus.DRY_RUN), checkpoint=b"cp-3")
        before = state(j)

    with SqliteJournal(db_path) as reopened:
        assert state(reopened) == before
        assert reopened.tail(4)[:3] == records
        assert reopened.executed_action_ids() == {r.results[0].action_id for r in records}


def test_appending_continues_at_the_next_seq_after_reopen(db_path: Path) -> None:
    with SqliteJournal(db_path) as j:
        fill(j, 2)

    with SqliteJournal(db_path) as reopened:
        reopened.append(make_tick_record(2))
        with pytest.raises(JournalError, match="expected seq=3"):
            reopened.append(make_tick_record(2))
        assert [r.seq for r in reopened.ticks()] == [0, 1, 2]
