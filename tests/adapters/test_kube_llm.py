"""With `--backend kubernetes` the LLM settings take effect as they do on the simulator:
with GPUSTEWARD_LLM_BASE_URL set, the scenario's planner runs under the LLM planner agent
(no what-if port: nothing here projects a live cluster) and a tick asks the model; unset,
the scenario's deterministic planner decides."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.llm.planner import LlmPlanner
from forecasting.auto import LastValueConfig
from gpusteward.app.parts import build_planner
from gpusteward.app.scenario import Scenario, load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_kube import build_kube_run
from gpusteward.testing.llm import ScriptedLlmServer, reply
from tests.contract.kube_emulator import EmulatedApiServer
from tests.contract.worlds import NAMESPACE, seed


@pytest.fixture
def server() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer() as s:
        seed(s)
        yield s


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario("quickstart").model_copy(update={"forecaster": LastValueConfig()})


def kube_settings(server: EmulatedApiServer, tmp: Path) -> Settings:
    """A dry run (no lease) against the emulator; the rest, the LLM included, from the
    environment as `gpusteward run` reads it."""
    return Settings(
        backend="kubernetes",
        kubeconfig=server.kubeconfig(tmp / "kubeconfig"),
        journal=tmp / "kubernetes.db",
        lease_namespace=NAMESPACE,
        kube_timeout_seconds=2.0,
        dry_run=True,
    )


def test_with_an_llm_endpoint_the_kubernetes_run_plans_with_the_llm_planner(
    server: EmulatedApiServer, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUSTEWARD_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    run = build_kube_run(scenario, kube_settings(server, tmp_path))
    try:
        planner = run.daemon.planner
        assert isinstance(planner, LlmPlanner)
        assert planner.fallback.name == build_planner(scenario).name
        assert planner.whatif is None
        assert planner.policy is run.daemon.policy  # the agent judges with the daemon's guard
    finally:
        run.close()


def test_without_an_llm_endpoint_the_scenarios_planner_decides(
    server: EmulatedApiServer, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GPUSTEWARD_LLM_BASE_URL", raising=False)
    run = build_kube_run(scenario, kube_settings(server, tmp_path))
    try:
        assert not isinstance(run.daemon.planner, LlmPlanner)
        assert run.daemon.planner.name == build_planner(scenario).name
    finally:
        run.close()


def test_a_kubernetes_tick_asks_the_configured_model_and_records_the_exchange(
    server: EmulatedApiServer, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedLlmServer([reply("Nothing to change.")], hold_seconds=2.0) as llm:
        monkeypatch.setenv("GPUSTEWARD_LLM_BASE_URL", llm.base_url)
        run = build_kube_run(scenario, kube_settings(server, tmp_path))
        try:
            record = asyncio.run(run.daemon.tick())
        finally:
            run.close()
        assert llm.requests, "the model was asked"
    assert record.planner == "llm"
    assert record.llm is not None and record.llm.endpoint == llm.base_url
