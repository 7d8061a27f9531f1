"""`/intent`: an operator's note on expected load, written in the chat (over the web chat's
HTTP API here; Slack runs the same command), kept in the approval store's file, and
carried on the deployment in the snapshots the daemon's planner reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from gpusteward.chat.commands import run_command
from gpusteward.chat.identities import Identities
from gpusteward.chat.notes import MAX_CHARS, NoteBook, NotedSource
from gpusteward.chat.service import ApprovalService
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.web import create_web_app
from gpusteward.core.clock import VirtualClock
from gpusteward.testing import FakeClusterSource, make_deployment, make_snapshot
from tests.chat.conftest import LLM, T0, TOKENS, FakeDaemonView, LiveServer

NOTE = "launch at 09:00 UTC tomorrow, expect 3x traffic on llm-chat for two hours"


@pytest.fixture
def notes(store: SqliteApprovalStore) -> Iterator[NoteBook]:
    book = NoteBook(store.path)
    yield book
    book.close()


@pytest.fixture
def noted(
    store: SqliteApprovalStore, identities: Identities, clock: VirtualClock, notes: NoteBook
) -> ApprovalService:
    return ApprovalService(store, identities, clock, FakeDaemonView(), speed=None, notes=notes)


def test_a_note_written_over_http_is_in_force_and_listed(noted: ApprovalService) -> None:
    with LiveServer(create_web_app(noted)) as live:
        answer = httpx.post(
            f"{live.url}/api/command",
            json={"text": f"/intent llm-chat {NOTE}"},
            headers={"Authorization": f"Bearer {TOKENS['alice']}"},
            timeout=60.0,
        )
    assert answer.status_code == 200, answer.text
    assert f"noted on {LLM}" in answer.json()["text"]
    (note,) = noted.notes.in_force(T0).values()  # type: ignore[union-attr]
    assert (note.deployment, note.text, note.author, note.channel) == (LLM, NOTE, "alice", "web")
    assert note.stamped() == f"{NOTE} (written 2026-11-02 14:00 UTC by alice in the chat)"
    listed = run_command(noted, None, "/intent", "web")
    assert listed.ok and NOTE in listed.text


def test_bad_intent_commands_say_what_is_wrong_and_record_nothing(
    noted: ApprovalService, identities: Identities
) -> None:
    alice = identities.by_token(TOKENS["alice"])
    unknown = run_command(noted, alice, "/intent nope launch at 09:00 UTC", "web")
    assert not unknown.ok and "no deployment 'nope'" in unknown.text and LLM in unknown.text
    bare = run_command(noted, alice, f"/intent {LLM}", "web")
    assert not bare.ok and "needs the note" in bare.text
    anonymous = run_command(noted, None, f"/intent {LLM} {NOTE}", "web")
    assert not anonymous.ok and "sign in" in anonymous.text
    long = run_command(noted, alice, f"/intent {LLM} {'x' * (MAX_CHARS + 1)}", "web")
    assert not long.ok and f"at most {MAX_CHARS}" in long.text
    assert noted.notes.in_force(T0) == {}  # type: ignore[union-attr]


def test_clear_ends_the_note_and_old_notes_lapse(
    noted: ApprovalService, identities: Identities, notes: NoteBook
) -> None:
    alice = identities.by_token(TOKENS["alice"])
    assert run_command(noted, alice, f"/intent {LLM} {NOTE}", "web").ok
    assert run_command(noted, alice, f"/intent {LLM} clear", "web").ok
    assert notes.in_force(T0) == {}
    notes.write(LLM, NOTE, by="alice", channel="slack", now=T0 - timedelta(days=8))
    assert notes.in_force(T0) == {}


def test_the_daemon_source_carries_the_note_after_an_annotation(
    tmp_path: Path, notes: NoteBook
) -> None:
    annotated = make_deployment(intent="from the annotation")
    source = NotedSource(FakeClusterSource(make_snapshot(at=T0, deployments=[annotated])), notes)
    assert source.snapshot().deployment(LLM).intent == "from the annotation"  # type: ignore[union-attr]
    notes.write(LLM, NOTE, by="bob", channel="slack", now=T0)
    d = source.snapshot().deployment(LLM)
    assert d is not None and d.intent is not None
    assert d.intent.splitlines() == [
        "from the annotation",
        f"{NOTE} (written 2026-11-02 14:00 UTC by bob in the chat)",
    ]
    # a note written after the snapshot's time is not in it (replays stay as recorded)
    later = NoteBook(notes.path)
    later.write(LLM, "a later note", by="bob", channel="web", now=T0 + timedelta(hours=1))
    later.close()
    assert "a later note" not in (source.snapshot().deployment(LLM).intent or "")  # type: ignore[union-attr]
