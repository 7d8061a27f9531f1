"""Per-token figures: the simulator's streaming figures against an independent
recomputation from its request log, and the drawn lengths against their source."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gpusteward.app.scenario import load_scenario
from gpusteward.core.actions import ScaleDeployment
from gpusteward.core.errors import ScenarioError
from gpusteward.sim.engine import Simulator
from gpusteward.sim.token_files import azure_table, load_token_table, servegen_table
from gpusteward.sim.tokens import LogHistogram, RequestLog
from tests.helpers import benchmark_module

TOLERANCE = 0.02  # the target: within 2 % of the independent calculation

AZURE = Path(__file__).resolve().parents[2] / "gpusteward" / "scenarios" / "traces"


def _bench() -> ModuleType:
    """benchmarks/tokens.py: its independent recomputation is the one the test uses."""
    return benchmark_module("tokens")


@pytest.fixture(scope="module")
def servegen_run() -> tuple[Simulator, RequestLog]:
    """servegen-14d's first 6 hours with a request log, sized by hand so the queue both
    builds up (m-large, under-provisioned for a while) and stays empty (m-mid)."""
    scenario = load_scenario("servegen-14d")
    log = RequestLog()
    sim = Simulator(scenario.sim_spec(), request_log=log)
    sim.execute(ScaleDeployment(issued_at=sim.now, deployment="serving/m-mid", replicas=6))
    when = scenario.start
    for minute in range(360):
        if minute == 120:
            sim.execute(
                ScaleDeployment(issued_at=sim.now, deployment="serving/m-large", replicas=9)
            )
        when += timedelta(seconds=60)
        sim.advance_to(when)
        sim.snapshot()
    return sim, log


@pytest.mark.parametrize("key", ["serving/m-large", "serving/m-mid"])
def test_per_token_figures_match_an_independent_calculation_from_the_request_log(
    servegen_run: tuple[Simulator, RequestLog], key: str
) -> None:
    sim, log = servegen_run
    acc = sim.snapshot().accounting[key]
    # requests killed in flight later were served (and drew tokens) first
    killed = acc.dropped_on_removal + acc.dropped_on_failure
    assert acc.tokens is not None and acc.tokens.requests == acc.served + killed
    want = _bench().independent(log, key, sim.elapsed_seconds)
    got = _bench().reported(acc.tokens)
    for name, value in want.items():
        seen = got[name]
        assert seen is not None, name
        assert seen == pytest.approx(value, rel=TOLERANCE, abs=1e-3), name


def test_drawn_lengths_follow_the_source_distribution(
    servegen_run: tuple[Simulator, RequestLog],
) -> None:
    """The mean input and output lengths drawn each 6-hour window are the source table's
    exact means (over the thousands of requests of a window) within 2 %."""
    _, log = servegen_run
    table = load_token_table((AZURE / "tokens_m-mid.csv",), "token-quantiles")
    # the run's 6 hours are the table's first window
    assert log.column("serving/m-mid", "inputs").mean() == pytest.approx(
        table.mean_inputs[0], rel=TOLERANCE
    )
    assert log.column("serving/m-mid", "outputs").mean() == pytest.approx(
        table.mean_outputs[0], rel=TOLERANCE
    )


def test_time_to_first_token_includes_the_queueing_delay(
    servegen_run: tuple[Simulator, RequestLog],
) -> None:
    """m-large waits in a queue for its first two hours, m-mid does not: its TTFT is its
    prefill alone."""
    sim, log = servegen_run
    snap = sim.snapshot()
    large, mid = snap.accounting["serving/m-large"], snap.accounting["serving/m-mid"]
    assert large.tokens and mid.tokens
    assert large.tokens.ttft_p95_seconds and large.tokens.ttft_p95_seconds > 2.0
    prefill = log.column("serving/m-mid", "prefill")
    assert mid.tokens.ttft_p50_seconds == pytest.approx(float(np.median(prefill)), rel=0.05)


def test_log_histogram_quantiles_are_within_a_bin_of_exact() -> None:
    rng = np.random.default_rng(5)
    values = np.exp(rng.normal(-2.0, 2.0, 50_000))
    hist = LogHistogram()
    hist.add(values)
    for q in (0.5, 0.95, 0.99):
        assert hist.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.0235)


def test_servegen_dataset_files_mix_by_weight(tmp_path: Path) -> None:
    a, b = tmp_path / "chunk-1-dataset.json", tmp_path / "chunk-2-dataset.json"
    a.write_text(json.dumps({"0": {"input_tokens": "{10: 1.0}", "output_tokens": "{5: 1.0}"}}))
    b.write_text(json.dumps({"0": {"input_tokens": "{30: 1.0}", "output_tokens": "{7: 1.0}"}}))
    table = servegen_table([a, b], [3.0, 1.0])
    assert table.mean_inputs[0] == pytest.approx(15.0)
    assert table.inputs[0][0] == 10 and table.inputs[0][-1] == 30
    assert np.mean(table.inputs[0] == 10) == pytest.approx(0.75, abs=0.02)


def test_azure_trace_gives_one_window_of_its_requests(tmp_path: Path) -> None:
    path = tmp_path / "azure.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nx,100,10\nx,300,30\n")
    table = azure_table(path)
    assert table.mean_inputs[0] == 200 and table.mean_outputs[0] == 20
    assert table.window_at(1e9) == 0


def test_a_malformed_token_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "chunk-1-dataset.json"
    path.write_text(json.dumps({"0": {"input_tokens": "{ten: 1}", "output_tokens": "{}"}}))
    with pytest.raises(ScenarioError, match=r"chunk-1-dataset.json.*Fix: give a token-length"):
        servegen_table([path])


def test_a_restored_checkpoint_continues_the_token_draws_exactly() -> None:
    scenario = load_scenario("servegen-14d")
    spec = scenario.sim_spec()
    straight = Simulator(spec)
    straight.advance_to(scenario.start + timedelta(minutes=30))
    halfway = Simulator(spec)
    halfway.advance_to(scenario.start + timedelta(minutes=15))
    resumed = Simulator.restore(spec, halfway.checkpoint())
    resumed.advance_to(scenario.start + timedelta(minutes=30))
    assert resumed.snapshot().token_figures() == straight.snapshot().token_figures()
    assert straight.snapshot().token_figures()["serving/m-large"].requests > 0
