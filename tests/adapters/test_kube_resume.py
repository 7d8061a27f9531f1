"""On Kubernetes a restarted daemon gets its planner's memory back from the journal's
checkpoint; a checkpoint this version cannot read (an older pickle, another schema
version) is never unpickled and the run goes on from the journal alone."""

from __future__ import annotations

import asyncio
import json
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.forecast_config import ForecastPlannerConfig
from forecasting.auto import LastValueConfig
from gpusteward.app.parts import build_planner
from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.app.wiring_kube import build_kube_run
from gpusteward.core.ports import RemembersState
from tests.adapters.test_kube_llm import kube_settings
from tests.contract.kube_emulator import EmulatedApiServer
from tests.contract.worlds import seed


@pytest.fixture
def server() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer() as s:
        seed(s)
        yield s


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> Scenario:
    monkeypatch.delenv("GPUSTEWARD_LLM_BASE_URL", raising=False)
    base = load_scenario("quickstart")  # the forecast planner: it remembers the most
    return base.model_copy(
        update={"forecaster": LastValueConfig(), "planner": ForecastPlannerConfig()}
    )


def _memory(planner: object) -> object:
    assert isinstance(planner, RemembersState)
    return json.loads(json.dumps(planner.state()))


def test_a_restarted_kubernetes_daemon_gets_its_planner_memory_back(
    server: EmulatedApiServer, scenario: Scenario, tmp_path: Path
) -> None:
    settings = kube_settings(server, tmp_path)
    run = build_kube_run(scenario, settings)
    try:
        for _ in range(3):
            asyncio.run(run.daemon.tick())
        learnt = _memory(run.daemon.planner)
    finally:
        run.close()
    assert learnt != _memory(build_planner(scenario))  # the ticks taught it something
    again = build_kube_run(scenario, settings)
    try:
        assert _memory(again.daemon.planner) == learnt
    finally:
        again.close()


class _Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.write_text, (self.marker, "unpickled"))


def test_an_older_pickled_checkpoint_resumes_from_the_journal_alone(
    server: EmulatedApiServer, scenario: Scenario, tmp_path: Path
) -> None:
    settings = kube_settings(server, tmp_path)
    run = build_kube_run(scenario, settings)
    try:
        asyncio.run(run.daemon.tick())
    finally:
        run.close()
    marker = tmp_path / "unpickled.txt"
    with sqlite3.connect(tmp_path / "kubernetes.db") as db:
        db.execute("UPDATE checkpoint SET data = ?", (pickle.dumps(_Trap(marker)),))
    again = build_kube_run(scenario, settings)
    try:
        assert _memory(again.daemon.planner) == _memory(build_planner(scenario))
        record = asyncio.run(again.daemon.tick())
        assert record.seq == 1  # the journal goes on
    finally:
        again.close()
    assert not marker.exists()
