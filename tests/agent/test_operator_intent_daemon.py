"""Operator intent end to end: a note on the deployment, a model behind the real `openai`
client over HTTP that reads it, the guard sending the schedule to a person, the person
approving it in the approval store, and the replicas Ready when the announced load
arrives — against the same run without a model, which reacts a cold start late."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.chat.commands import run_command
from gpusteward.chat.identities import Identities
from gpusteward.chat.notes import NoteBook
from gpusteward.chat.service import ApprovalService
from gpusteward.core.approvals import ApprovalState
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.tick import TickRecord
from gpusteward.testing.intent import schedule_calls
from gpusteward.testing.llm import ScriptedLlmServer, Step, reply, tool_calls

EVENT = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
KEY = "serving/m-large"


CHAT_NOTE = "launch today at 09:00 UTC, expect 3x traffic on m-large for two hours"
PEOPLE = "people:\n  - {name: alice, token: alice-token-0123456789, groups: [oncall]}\n"


def scenario(annotated: bool = True) -> Scenario:
    """launch-event cut to 07:00-10:00 on the launch day, the note there from the start
    (or, not `annotated`, no annotation: the note comes from the chat)."""
    s = load_scenario("launch-event")
    m = s.models[0]
    start = EVENT - timedelta(hours=2)
    event = m.trace.events[0].model_copy(update={"after_seconds": 7200.0})
    trace = m.trace.model_copy(update={"events": (event,), "offset_seconds": 90_000.0})
    model = m.model_copy(
        update={
            "trace": trace,
            "intent_after_seconds": 0.0,
            "intent": m.intent if annotated else None,
        }
    )
    return s.model_copy(update={"start": start, "duration": "3h", "models": (model,)})


def reads_the_note(body: dict[str, Any]) -> Step:
    """A model that plans for the note it is shown, and says nothing otherwise."""
    messages = body["messages"]
    if any(m["role"] == "tool" for m in messages):
        return reply("Scheduled capacity for the launch; a person approves it.")
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    calls = schedule_calls(prompt)
    return tool_calls(*(("propose_schedule", c) for c in calls)) if calls else reply("")


class Watch:
    def __init__(self) -> None:
        self.ready_at_event: int | None = None
        self.records: list[TickRecord] = []

    def __call__(self, record: TickRecord) -> None:
        self.records.append(record)
        snap = record.snapshot
        if self.ready_at_event is None and snap is not None and snap.at >= EVENT:
            d = snap.deployment(KEY)
            assert d is not None
            self.ready_at_event = d.count(ReplicaPhase.READY)


def run(tmp_path: Path, base_url: str | None, chat_note: str | None = None) -> tuple[Watch, Any]:
    settings = Settings(
        journal=tmp_path / "j.db",
        llm_base_url=base_url,
        llm_model="scripted",
        llm_timeout_seconds=5.0,
    )
    watch = Watch()
    holder: dict[str, Any] = {}

    def on_tick(record: TickRecord) -> None:
        watch(record)
        store = holder["sim"].approvals
        for request in store.pending(record.at):  # the on-call person, 10 minutes later
            waited = record.at - request.created_at >= timedelta(minutes=10)
            if request.proposal.action.kind == "schedule" and waited:
                store.decide(request.id, approve=True, by="alice", channel="web", now=record.at)

    sim = build_sim_run(scenario(chat_note is None), settings, fresh=True, on_tick=on_tick)
    holder["sim"] = sim
    if chat_note is not None:  # alice writes it in the chat before the first tick
        notes = NoteBook(sim.approvals.path)
        chat = ApprovalService(
            sim.approvals, Identities.parse(PEOPLE, "people"), sim.clock, notes=notes
        )
        alice = chat.identities.by_token("alice-token-0123456789")
        said = run_command(chat, alice, f"/intent m-large {chat_note}", "web")
        notes.close()
        assert not said.ok and "not observed the cluster yet" in said.text
        chat.daemon = _Seen(sim.cluster.snapshot())
        notes = NoteBook(sim.approvals.path)
        chat.notes = notes
        assert run_command(chat, alice, f"/intent m-large {chat_note}", "web").ok
        notes.close()
    asyncio.run(sim.daemon.run(tick_first=False))
    return watch, sim


class _Seen:
    """What the chat knows of the daemon before it runs: the cluster as it is."""

    def __init__(self, snapshot: Any) -> None:
        self.snapshot = snapshot

    def latest_snapshot(self) -> Any:
        return self.snapshot

    def status_lines(self) -> list[str]:
        return []

    def set_paused(self, paused: bool) -> None:
        raise AssertionError("not in this test")


@pytest.mark.parametrize("where", ["annotation", "chat"])
def test_a_note_read_over_http_becomes_an_approved_schedule_ready_at_the_launch(
    tmp_path: Path, serve: Callable[..., ScriptedLlmServer], where: str
) -> None:
    server = serve(responder=reads_the_note)
    note = CHAT_NOTE if where == "chat" else None
    watch, sim = run(tmp_path / "model", server.base_url, note)
    schedules = [r for r in sim.approvals.recent(100) if r.proposal.action.kind == "schedule"]
    assert len(schedules) == 1, "the same announcement each tick is one request"
    (request,) = schedules
    assert request.state is ApprovalState.APPROVED and request.decided_by == "alice"
    action = request.proposal.action
    assert (action.start, action.end) == (EVENT, EVENT + timedelta(hours=2))
    assert "3x traffic" in action.note
    if where == "chat":
        assert "by alice in the chat" in action.note
    applied = [
        res
        for rec in watch.records
        for res in rec.results
        if res.action_id == action.id and res.status.value == "applied"
    ]
    assert len(applied) == 1
    windows = watch.records[-1].snapshot.deployment(KEY).capacity_windows
    assert [w.action_id for w in windows] == [action.id]
    assert watch.ready_at_event is not None and watch.ready_at_event >= action.replicas
    assert not server.rejected, server.rejected

    baseline, _ = run(tmp_path / "deterministic", None)
    assert baseline.ready_at_event is not None
    assert watch.ready_at_event > baseline.ready_at_event
