"""Checkpoints are JSON with a schema version and the planner's memory as data: a run
resumed from one continues exactly as a run that was not stopped, and a journal whose
checkpoint is an older pickle or another schema version stops with a message that names
the versions and the fix, without unpickling anything."""

from __future__ import annotations

import asyncio
import json
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.core.remembered import StateError, decode, encode
from gpusteward.core.tick import TickRecord
from gpusteward.daemon.resume import CHECKPOINT_SCHEMA_VERSION, CheckpointError, load_checkpoint

TRACE = (
    Path(__file__).resolve().parents[2]
    / "gpusteward/scenarios/traces/servegen_m-large_total_rate_10min.csv"
)
POLICY = """\
name: permissive-test
defaults: {unmatched: allow}
rules:
  - {id: replica-bounds, kind: replica-bounds, effect: deny}
"""
PLANNERS = {
    "forecast": "{kind: forecast}",
    "composite": (
        "{kind: composite, scaling: {kind: forecast}, scale_to_zero: {},"
        " consolidation: {max_moves: 4}, hygiene: {}, gpu_choice: {}, adapter_merge: {}}"
    ),
    "reactive": "{kind: reactive, scale_down_stabilisation_seconds: 120}",
    "kpa": "{kind: kpa}",
    "dynamo": "{kind: dynamo}",
}


def _model(name: str, replicas: int, min_replicas: int, scale: float) -> str:
    return f"""
  - name: {name}
    replicas: {replicas}
    min_replicas: {min_replicas}
    max_replicas: 8
    gpu_memory_gib: 40
    cold_start_seconds: 120
    slo: {{queue_delay_seconds: 2.0}}
    profile: {{throughput_rps: {{H100: 2.0}}}}
    trace: {{file: {TRACE}, scale: {scale}}}"""


def _scenario(tmp_path: Path, planner: str) -> Path:
    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / "resume.yaml"
    path.write_text(
        f"""\
name: resume-test
start: "2026-11-02T00:00:00+00:00"
duration: 2h
tick_seconds: 60
cluster:
  node_groups:
    - {{name: h100, count: 3, gpu_type: H100, gpus_per_node: 4, gpu_memory_gib: 80,
        price_per_gpu_hour: 2.0}}
models:{_model("a", 2, 1, 0.03)}{_model("b", 3, 0, 0.008)}
planner: {PLANNERS[planner]}
policy: policy.yaml
"""
    )
    return path


def _ticks(run: Any, n: int) -> list[TickRecord]:
    out = []
    for _ in range(n):
        out.append(asyncio.run(run.daemon.tick()))
        run.clock.advance(60)
    return out


def _what(record: TickRecord) -> tuple[object, ...]:
    return (
        record.seq,
        record.snapshot,
        [(p.action.describe(), p.reason, p.planner) for p in record.proposals],
        [(r.action_id, r.status) for r in record.results],
    )


@pytest.mark.parametrize("planner", sorted(PLANNERS))
def test_a_resumed_run_continues_exactly_as_one_not_stopped(tmp_path: Path, planner: str) -> None:
    scenario = load_scenario(str(_scenario(tmp_path, planner)))
    whole = build_sim_run(scenario, Settings(journal=tmp_path / "whole.db"), fresh=True)
    expected = _ticks(whole, 40)

    first = build_sim_run(scenario, Settings(journal=tmp_path / "split.db"), fresh=True)
    before = _ticks(first, 25)
    data = first.journal.latest_checkpoint()
    assert data is not None and data[:1] == b"{"  # JSON, not a pickle
    doc = json.loads(data)
    assert doc["schema_version"] == CHECKPOINT_SCHEMA_VERSION
    assert doc["planner"]  # the planner's memory, as data
    first.journal.close()

    resumed = build_sim_run(scenario, Settings(journal=tmp_path / "split.db"))
    assert resumed.resumed_at_seq == 24
    resumed.clock.advance(60)
    after = _ticks(resumed, 15)
    assert [_what(r) for r in before + after] == [_what(r) for r in expected]
    assert any(r.proposals for r in after), "no decision after the resume: nothing was tested"


def test_a_schema_version_1_checkpoint_still_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2 only adds column-wise rows; a journal the previous version wrote (every
    row item by item, schema version 1) resumes and continues as a run not stopped."""
    import gpusteward.core.remembered as remembered
    import gpusteward.daemon.resume as resume

    scenario = load_scenario(str(_scenario(tmp_path, "forecast")))
    whole = build_sim_run(scenario, Settings(journal=tmp_path / "whole.db"), fresh=True)
    expected = _ticks(whole, 40)
    current = whole.journal.latest_checkpoint()
    assert current is not None and '"$":"rows"' in current.decode()

    with monkeypatch.context() as old:  # write as the previous version did
        old.setattr(remembered, "_ROWS_FROM", 10**9)
        old.setattr(resume, "CHECKPOINT_SCHEMA_VERSION", 1)
        first = build_sim_run(scenario, Settings(journal=tmp_path / "v1.db"), fresh=True)
        before = _ticks(first, 25)
        data = first.journal.latest_checkpoint()
        first.journal.close()
    assert data is not None and json.loads(data)["schema_version"] == 1
    assert '"$":"rows"' not in data.decode() and '"$":"datetime"' in data.decode()

    resumed = build_sim_run(scenario, Settings(journal=tmp_path / "v1.db"))
    assert resumed.resumed_at_seq == 24
    resumed.clock.advance(60)
    after = _ticks(resumed, 15)
    assert [_what(r) for r in before + after] == [_what(r) for r in expected]


def _journal_with_checkpoint(tmp_path: Path, data: bytes) -> tuple[Any, Path]:
    scenario = load_scenario(str(_scenario(tmp_path, "forecast")))
    path = tmp_path / "old.db"
    run = build_sim_run(scenario, Settings(journal=path), fresh=True)
    _ticks(run, 3)
    run.journal.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE checkpoint SET data = ? WHERE id = 1", (data,))
    return scenario, path


class _Trap:
    """Unpickling this writes a file: proof that a checkpoint was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_pickled_checkpoint_stops_with_the_versions_and_is_never_unpickled(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "unpickled.txt"
    scenario, path = _journal_with_checkpoint(tmp_path, pickle.dumps(_Trap(marker)))
    with pytest.raises(CheckpointError) as caught:
        build_sim_run(scenario, Settings(journal=path))
    message = str(caught.value)
    assert str(path) in message and "pickle" in message
    assert "schema version 1" in message and "--fresh" in message
    assert not marker.exists()
    fresh = build_sim_run(scenario, Settings(journal=path), fresh=True)  # the fix works
    assert fresh.resumed_at_seq is None


def test_an_unknown_schema_version_names_the_one_found_and_the_one_expected(
    tmp_path: Path,
) -> None:
    doc = {"format": "gpusteward-checkpoint", "schema_version": 7, "seq": 2}
    scenario, path = _journal_with_checkpoint(tmp_path, json.dumps(doc).encode())
    with pytest.raises(CheckpointError, match=r"schema version 7; this version reads schema"):
        build_sim_run(scenario, Settings(journal=path))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "other"}', "not a gpusteward checkpoint"),
        (
            b'{"format": "gpusteward-checkpoint", "schema_version": 1, "seq": "x", "at": "",'
            b' "planner": null, "backend": null}',
            "seq is 'x'",
        ),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(data, "j.db")


def test_the_state_codec_reads_back_only_types_from_the_project() -> None:
    from collections import Counter, deque
    from datetime import UTC, datetime

    value = {
        "d": deque([(datetime(2026, 1, 1, tzinfo=UTC), 1.5)], maxlen=3),
        "c": Counter({"x": 2}),
        "k": {3: frozenset({"a"})},
    }
    assert decode(json.loads(json.dumps(encode(value)))) == value
    evil = {"$": "dataclass", "type": "subprocess:Popen", "v": {}}
    with pytest.raises(StateError, match="not one a checkpoint may hold"):
        decode(evil)


def test_a_simulator_state_naming_anything_but_its_own_types_is_not_read(
    tmp_path: Path,
) -> None:
    from gpusteward.core.errors import ScenarioError
    from gpusteward.sim.engine import Simulator

    marker = tmp_path / "unpickled.txt"
    scenario = load_scenario(str(_scenario(tmp_path, "forecast")))
    spec = scenario.sim_spec()
    good = Simulator(spec).checkpoint()
    assert isinstance(Simulator.restore(spec, good), Simulator)  # its own state reads back
    with pytest.raises(ScenarioError, match=r"names pathlib\.Path\.write_text"):
        Simulator.restore(spec, pickle.dumps(("gpusteward-sim/2", _Trap(marker))))
    assert not marker.exists()


def test_the_cli_stops_on_an_old_checkpoint_with_the_message_not_a_traceback(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    _, path = _journal_with_checkpoint(tmp_path, pickle.dumps({"old": "planner"}))
    cmd = [
        sys.executable,
        "-m",
        "gpusteward.cli.main",
        "run",
        "--scenario",
        str(tmp_path / "resume.yaml"),
    ]
    done = subprocess.run(
        [*cmd, "--journal", str(path), "--ticks", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "schema version 1" in said and "--fresh" in said and "Traceback" not in said
