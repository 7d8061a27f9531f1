"""The approval store: bound requests, exactly-once decisions, expiry, de-duplication,
supersede, cool-off, durability across a reopen, and the audit log."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gpusteward.chat.records import EventKind
from gpusteward.chat.store import DecisionRefused, SqliteApprovalStore
from gpusteward.core.approvals import ApprovalState, action_hash
from gpusteward.core.verdicts import ActionResult, ResultStatus
from tests.chat.conftest import T0, later, needs, retire, scale


def test_a_request_is_bound_to_the_action_hash_policy_version_group_and_expiry(
    store: SqliteApprovalStore,
) -> None:
    p = scale(6)
    r = store.submit(p, needs(p, group="ml-platform", expires=600, version="pol@abc"), T0)
    assert r.state == ApprovalState.PENDING and r.id == p.action.id
    assert (r.action_hash, r.policy_version, r.approver_group) == (
        action_hash(p),
        "pol@abc",
        "ml-platform",
    )
    assert r.expires_at == later(10) and r.rules[0].rule == "big-step"


def test_the_same_change_proposed_on_a_later_tick_returns_the_pending_request(
    store: SqliteApprovalStore,
) -> None:
    first = store.submit(scale(6), needs(scale(6)), T0)
    again = store.submit(scale(6, at=later(1)), needs(scale(6, at=later(1))), later(1))
    assert again.id == first.id
    assert [r.id for r in store.pending(later(1))] == [first.id]


def test_a_different_change_for_the_same_target_supersedes_the_pending_one(
    store: SqliteApprovalStore,
) -> None:
    old = store.submit(scale(6), needs(scale(6)), T0)
    new = store.submit(scale(7, at=later(1)), needs(scale(7, at=later(1))), later(1))
    superseded = store.get(old.id)
    assert superseded is not None and superseded.state == ApprovalState.SUPERSEDED
    assert new.id in (superseded.comment or "")
    assert [r.id for r in store.pending(later(1))] == [new.id]


def test_a_decision_is_taken_once_and_the_second_is_refused_naming_the_first(
    store: SqliteApprovalStore,
) -> None:
    r = store.submit(scale(6), needs(scale(6)), T0)
    store.decide(r.id, approve=True, by="alice", channel="web", now=later(1))
    with pytest.raises(DecisionRefused, match="already approved by alice via web"):
        store.decide(r.id, approve=False, by="bob", channel="slack", now=later(2))
    kinds = [(e.kind, e.actor) for e in store.events() if e.request_id == r.id]
    assert kinds[-2:] == [(EventKind.APPROVED, "alice"), (EventKind.REFUSED, "bob")]


def test_racing_threads_decide_a_request_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    SqliteApprovalStore(path).close()
    r = None
    with SqliteApprovalStore(path) as s:
        r = s.submit(scale(6), needs(scale(6)), T0)
    wins: list[str] = []
    barrier = threading.Barrier(16)

    def attempt(i: int) -> None:
        with SqliteApprovalStore(path) as own:  # separate connections, as separate processes
            barrier.wait()
            try:
                own.decide(r.id, approve=i % 2 == 0, by=f"p{i}", channel="web", now=later(1))
                wins.append(f"p{i}")
            except DecisionRefused:
                pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    with SqliteApprovalStore(path) as s:
        decided = [e for e in s.events() if e.kind in (EventKind.APPROVED, EventKind.REJECTED)]
        refused = [e for e in s.events() if e.kind == EventKind.REFUSED]
        assert [e.actor for e in decided] == wins and len(refused) == 15


def test_the_sweeper_expires_pending_requests_and_late_answers_are_refused(
    store: SqliteApprovalStore,
) -> None:
    r = store.submit(scale(6), needs(scale(6), expires=600), T0)
    assert store.expire(later(9)) == []
    (expired,) = store.expire(later(10))
    assert expired.state == ApprovalState.EXPIRED and expired.id == r.id
    with pytest.raises(DecisionRefused, match="already expired"):
        store.decide(r.id, approve=True, by="alice", channel="web", now=later(11))
    assert store.approved(later(11)) == []


def test_a_rejected_change_proposed_again_within_the_cool_off_is_auto_rejected(
    store: SqliteApprovalStore,
) -> None:
    r = store.submit(scale(6), needs(scale(6)), T0)
    store.decide(r.id, approve=False, by="bob", channel="web", now=later(1), comment="no")
    again = store.submit(scale(6, at=later(5)), needs(scale(6, at=later(5))), later(5))
    assert again.state == ApprovalState.REJECTED and again.decided_by == "system"
    assert "rejected by bob" in (again.comment or "")
    after = store.submit(scale(6, at=later(40)), needs(scale(6, at=later(40))), later(40))
    assert after.state == ApprovalState.PENDING  # 30 min cool-off over
    kinds = [e.kind for e in store.events() if e.request_id == again.id]
    assert EventKind.AUTO_REJECTED in kinds


def test_approved_requests_are_handed_out_once_and_again_after_a_restart_until_settled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.sqlite"
    with SqliteApprovalStore(path) as s:
        a = s.submit(scale(6), needs(scale(6)), T0)
        sdxl = scale(3, frm=1, target="default/sdxl")
        b = s.submit(sdxl, needs(sdxl), T0)
        s.decide(a.id, approve=True, by="alice", channel="web", now=later(1))
        s.decide(b.id, approve=True, by="alice", channel="web", now=later(1))
        assert {r.id for r in s.approved(later(2))} == {a.id, b.id}
        assert s.approved(later(3)) == []
        s.record_results(
            [ActionResult(action_id=a.id, status=ResultStatus.APPLIED, at=later(3))], later(3)
        )
    with SqliteApprovalStore(path) as s:  # a restart: b was handed out but never settled
        assert [r.id for r in s.approved(later(4))] == [b.id]
        settled = s.get(a.id)
        assert settled is not None and settled.outcome == "applied"


def test_an_approved_request_superseded_on_revalidation_ends_superseded(
    store: SqliteApprovalStore,
) -> None:
    r = store.submit(scale(6), needs(scale(6)), T0)
    store.decide(r.id, approve=True, by="alice", channel="web", now=later(1))
    result = ActionResult(
        action_id=r.id, status=ResultStatus.SUPERSEDED, message="world changed", at=later(2)
    )
    store.record_results([result], later(2))
    done = store.get(r.id)
    assert done is not None and done.state == ApprovalState.SUPERSEDED
    assert done.decided_by == "alice" and done.outcome == "superseded"


def test_settle_executed_marks_requests_the_journal_already_ran(store: SqliteApprovalStore) -> None:
    r = store.submit(scale(6), needs(scale(6)), T0)
    store.decide(r.id, approve=True, by="alice", channel="web", now=later(1))
    store.settle_executed({r.id, "other"}, later(2))
    assert store.approved(later(2)) == []


def test_a_prefix_resolves_only_when_unique(store: SqliteApprovalStore) -> None:
    a = store.submit(scale(6), needs(scale(6)), T0)
    assert store.resolve(a.id[:12]).id == a.id
    store.submit(retire(), needs(retire()), T0)
    with pytest.raises(DecisionRefused, match="no such request"):
        store.resolve("zzz")


def test_the_pause_flag_is_durable(tmp_path: Path) -> None:
    with SqliteApprovalStore(tmp_path / "a.sqlite") as s:
        assert s.set_paused(True, by="alice", channel="web", now=T0)
        assert not s.set_paused(True, by="alice", channel="web", now=T0)
    with SqliteApprovalStore(tmp_path / "a.sqlite") as s:
        assert s.paused


def test_a_file_that_is_not_an_approval_store_is_refused_with_a_fix(tmp_path: Path) -> None:
    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.core.errors import JournalError

    SqliteJournal(tmp_path / "j.db").close()
    with pytest.raises(JournalError, match="not a gpusteward approval store"):
        SqliteApprovalStore(tmp_path / "j.db")


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    from gpusteward.adapters.journal import SqliteJournal
    from gpusteward.core.errors import JournalError

    theirs = tmp_path / "theirs.db"
    with sqlite3.connect(theirs) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    with pytest.raises(JournalError, match=r"theirs\.db: a SQLite file, but not a gpusteward"):
        SqliteApprovalStore(theirs)
    with pytest.raises(JournalError, match=r"not a gpusteward journal.*--fresh"):
        SqliteJournal(theirs)
    with sqlite3.connect(theirs) as conn:  # still in its own journal mode, not switched to WAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert not (tmp_path / "theirs.db-wal").exists()
