"""Bundles redact secrets; incident scenarios are graded; a recorded plan re-runs for fresh
approval against the current cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpusteward.app.replay_setup import SimRunbookTarget, bundle_policy
from gpusteward.app.scenario import load_scenario, shipped_scenarios
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.cli.main import app
from gpusteward.sim.engine import Simulator
from runbooks.bundle import read_bundle, redact, write_bundle
from runbooks.grading import load_incidents
from runbooks.rerun import rerun
from tests.runbooks.conftest import Recording

SECRETS = (
    "sk-abcdefghijklmnopqrstuvwx1234",
    "xoxb-1234567890-abcdefghij",
    "https://user:hunter22@llm.example/v1",
    "Bearer abcdef123456789",
    "https://llm.example/v1?api_key=topsecret99",
)


def test_export_redacts_api_keys_tokens_and_url_passwords(
    recording: Recording, tmp_path: Path
) -> None:
    bundle = read_bundle(recording.bundle)
    tick = bundle.ticks[0]
    assert tick.llm is not None
    messages = list(tick.llm.messages)
    messages[1] = messages[1].model_copy(update={"content": " ".join(SECRETS) + " my-own-secret"})
    llm = tick.llm.model_copy(update={"endpoint": SECRETS[2], "messages": tuple(messages)})
    dirty = bundle.model_copy(update={"ticks": (tick.model_copy(update={"llm": llm}),)})
    clean = redact(dirty, secrets=["my-own-secret"])
    write_bundle(clean, tmp_path / "b")
    text = (read_bundle(tmp_path / "b")).model_dump_json()
    for needle in (
        "abcdefghijklmnopqrstuvwx1234",
        "xoxb-1234567890",
        "hunter22",
        "abcdef123456789",
        "topsecret99",
        "my-own-secret",
    ):
        assert needle not in text
    assert clean.redactions == 7 and "[REDACTED]" in text
    assert "llm.example" in text  # only the secret part goes


def test_export_selects_ticks_by_time_and_keeps_a_preamble(
    recording: Recording, tmp_path: Path
) -> None:
    out = tmp_path / "day2.bundle"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--journal",
            str(recording.journal),
            "--scenario",
            str(recording.scenario),
            "--from",
            "2026-11-03T00:00:00+00:00",
            "--to",
            "2026-11-03T06:00:00+00:00",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    bundle = read_bundle(out)
    assert len(bundle.ticks) == 37 and bundle.ticks[0].seq == 144
    assert len(bundle.preamble.warmup) == 60 and bundle.preamble.load[0].values
    replayed = CliRunner().invoke(app, ["replay", str(out), "--json"])
    assert replayed.exit_code == 0, replayed.output  # a mid-run bundle replays exactly too
    assert json.loads(replayed.stdout)["diffs"] == []


INCIDENTS = sorted(load_incidents())


def test_every_incident_scenario_ships_with_what_handled_means() -> None:
    shipped = {s for s in shipped_scenarios() if s.startswith("incident-")}
    assert shipped == set(INCIDENTS) and len(shipped) == 5


@pytest.mark.parametrize("name", ["incident-gpu-failure", "incident-cold-start-storm"])
def test_replay_grades_planners_on_an_incident_side_by_side(name: str) -> None:
    result = CliRunner().invoke(app, ["replay", name, "--planner", "static-peak", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    runs = {r["label"]: r for r in body["runs"]}
    assert set(runs) == {"as configured", "what-if: planner static-peak"}
    grades = {(g["run"], g["criterion"]): g["passed"] for g in body["grades"]}
    # static peak holds the peak's GPUs all along: it never passes the GPU-hours line
    assert grades[("what-if: planner static-peak", "GPU-hours")] is False
    assert runs["what-if: planner static-peak"]["gpu_hours"] > runs["as configured"]["gpu_hours"]


def test_rerun_reissues_a_recorded_plan_for_fresh_approval(recording: Recording) -> None:
    bundle = read_bundle(recording.bundle)
    record = next(t for t in bundle.ticks if t.proposals)
    scenario = load_scenario(str(recording.scenario))
    sim = Simulator(scenario.sim_spec())
    target = SimRunbookTarget(sim)
    snapshot = target.snapshot()  # "now": another moment than the record's
    gate = InMemoryApprovalGate()
    policy = bundle_policy(bundle, "t")
    outcomes = rerun(record.proposals, snapshot, target.guard_inputs(), policy, gate)
    assert any(o.status == "submitted" for o in outcomes)
    assert len(outcomes) == len(record.proposals)
    for o, p in zip(outcomes, record.proposals, strict=True):
        assert o.new_id != p.action.id  # a new action, planned now
        if o.status == "submitted":
            (request,) = [r for r in gate.pending(snapshot.at) if r.id == o.request_id]
            assert request.proposal.action.issued_at == snapshot.at
        else:
            assert o.status == "denied"  # e.g. no forecast here: the guard fails closed
    assert gate.approved(snapshot.at) == []  # nothing runs without a human
