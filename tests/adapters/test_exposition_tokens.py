"""Per-token figures on `/metrics`: the daemon's gauges from a simulated run's accounting,
vLLM's token counters in the simulated cluster's exposition, and the Grafana panels."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from gpusteward.adapters.exposition import ClusterExposition, DaemonExposition
from gpusteward.app.scenario import load_scenario
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.sim.engine import Simulator
from gpusteward.testing import make_tick_record


@pytest.fixture(scope="module")
def snapshot() -> ClusterSnapshot:
    scenario = load_scenario("servegen-14d")
    sim = Simulator(scenario.sim_spec())
    sim.advance_to(scenario.start + timedelta(minutes=30))
    return sim.snapshot()


def _value(text: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert m is not None, series
    return float(m.group(1))


def test_the_daemon_exposes_each_models_per_token_figures(snapshot: ClusterSnapshot) -> None:
    exposition = DaemonExposition()
    exposition.tick(make_tick_record(1).model_copy(update={"snapshot": snapshot}), leader=False)
    text = exposition.render().decode()
    for key, k in snapshot.token_figures().items():
        dep = f'deployment="{key}"'
        assert _value(text, f'gpusteward_tokens_per_second{{{dep},direction="output"}}') == (
            pytest.approx(k.output_tokens / k.seconds)
        )
        assert _value(text, f'gpusteward_time_to_first_token_seconds{{{dep},quantile="0.95"}}') == (
            pytest.approx(k.ttft_p95_seconds)
        )
        usd = k.cost_per_million("input")
        assert _value(
            text, f'gpusteward_cost_per_million_tokens_usd{{{dep},direction="input"}}'
        ) == (pytest.approx(usd))
        assert _value(text, f"gpusteward_idle_gpu_share{{{dep}}}") == pytest.approx(
            k.idle_gpu_share
        )
    assert len(snapshot.token_figures()) == 2


def test_the_simulated_cluster_publishes_vllms_token_counters(snapshot: ClusterSnapshot) -> None:
    text = ClusterExposition(lambda: snapshot).render().decode()
    k = snapshot.token_figures()["serving/m-mid"]
    labels = 'model_name="m-mid",namespace="serving"'
    assert _value(text, f"vllm:prompt_tokens_total{{{labels}}}") == k.input_tokens
    assert _value(text, f"vllm:generation_tokens_total{{{labels}}}") == k.output_tokens
