"""Regression replay of a recorded 2-day agent run: zero differences with the LLM server
stopped and no network; a changed record or a request the record lacks is reported."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gpusteward.app.replay_setup import bundle_policy, recorded_planner
from gpusteward.app.settings import Settings
from gpusteward.cli.main import app
from runbooks.bundle import read_bundle, write_bundle
from runbooks.replay import regression
from tests.runbooks.conftest import Recording


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test (the replay must not need one)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the replay tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_a_recorded_two_day_agent_run_replays_with_zero_differences_offline(
    recording: Recording, no_network: None
) -> None:
    bundle = read_bundle(recording.bundle)
    assert recording.ticks == 289 and len(bundle.ticks) == 289  # 2 days of 10-minute ticks
    # the model answered every tick: a plan, or (a tick it proposed nothing) no opinion
    assert all(t.llm is not None and t.llm.outcome != "fallback" for t in bundle.ticks)
    proposals = sum(len(t.proposals) for t in bundle.ticks)
    what_ifs = sum(
        1 for t in bundle.ticks for m in t.llm.messages for c in m.tool_calls if c.name == "what_if"
    )  # type: ignore[union-attr]
    assert proposals > 50 and what_ifs > 50
    assert all(t.forecaster == "last-value@1" and t.policy_version for t in bundle.ticks)
    result = CliRunner().invoke(app, ["replay", str(recording.bundle), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] and body["diffs"] == []
    assert body["compared"] == 289 and body["llm_ticks"] == 289
    assert body["llm_rounds"] == recording.llm_requests  # every request answered from the record


def _tampered(recording: Recording, tmp_path: Path, seq: int, new_target: int) -> Path:
    """The bundle with one recorded LLM answer changed: it now proposes another target."""
    bundle = read_bundle(recording.bundle)
    ticks = list(bundle.ticks)
    tick = ticks[seq]
    assert tick.llm is not None
    rounds = list(tick.llm.rounds)
    last_call = max(i for i, r in enumerate(rounds) if r.response and r.response.message.tool_calls)
    response = rounds[last_call].response
    assert response is not None
    calls = list(response.message.tool_calls)
    args = json.loads(calls[0].arguments)
    args["replicas"] = new_target
    calls[0] = calls[0].model_copy(update={"arguments": json.dumps(args)})
    message = response.message.model_copy(update={"tool_calls": tuple(calls)})
    rounds[last_call] = rounds[last_call].model_copy(
        update={"response": response.model_copy(update={"message": message})}
    )
    ticks[seq] = tick.model_copy(
        update={"llm": tick.llm.model_copy(update={"rounds": tuple(rounds)})}
    )
    path = tmp_path / "tampered.bundle"
    write_bundle(bundle.model_copy(update={"ticks": tuple(ticks)}), path)
    return path


def test_a_changed_llm_answer_is_reported_as_requests_the_record_lacks(
    recording: Recording, tmp_path: Path, no_network: None
) -> None:
    bundle = read_bundle(recording.bundle)
    seq = next(t.seq for t in bundle.ticks if t.proposals)
    path = _tampered(recording, tmp_path, seq, new_target=3)
    result = CliRunner().invoke(app, ["replay", str(path), "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    kinds = {(d["seq"], d["kind"]) for d in body["diffs"]}
    # the model's changed call gets another tool result, so the next request differs from
    # the recorded one: the replay refuses to answer it and says so
    assert (seq, "unrecorded-request") in kinds
    assert all(d["seq"] == seq for d in body["diffs"]), body["diffs"]


def test_a_changed_recorded_verdict_is_reported(recording: Recording, tmp_path: Path) -> None:
    bundle = read_bundle(recording.bundle)
    ticks = list(bundle.ticks)
    i = next(i for i, t in enumerate(ticks) if t.verdicts)
    verdict = ticks[i].verdicts[0].model_copy(update={"decision": "deny"})
    ticks[i] = ticks[i].model_copy(update={"verdicts": (verdict,)})
    report = regression(
        bundle.model_copy(update={"ticks": tuple(ticks)}),
        recorded_planner(bundle, Settings(), "test"),
        bundle_policy(bundle, "test"),
    )
    assert [(d.seq, d.kind) for d in report.diffs] == [(ticks[i].seq, "verdicts")]
