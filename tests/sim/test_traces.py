"""Trace loading and per-step arrival draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpusteward.core.errors import ScenarioError
from gpusteward.sim.spec import LoadEvent, TraceSpec
from gpusteward.sim.traces import ArrivalTrace, RateTable
from tests.sim.conftest import M_LARGE, write_total_trace

AZURE_ROWS = [
    "TIMESTAMP,ContextTokens,GeneratedTokens",
    "2023-11-16 18:17:03.9799600,4808,10",
    "2023-11-16 18:17:04.0319600,3180,8",
    "2023-11-16 18:17:30.5000000,100,8",
    "2023-11-16 18:18:10.0000000,100,8",
    "2023-11-16 18:19:05.0000000,100,8",
]


def _draws(trace: ArrivalTrace, steps: int, dt: float = 60.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([trace.arrivals(i * dt, dt, rng) for i in range(steps)])


def test_real_servegen_total_trace_loads_all_2016_windows() -> None:
    trace = ArrivalTrace(TraceSpec(file=M_LARGE))
    assert isinstance(trace.data, RateTable)
    assert len(trace.data.rates) == 2016
    assert trace.data.window_seconds == 600


def test_cv_zero_gives_the_exact_expected_total_through_the_carried_fraction(
    tmp_path: Path,
) -> None:
    path = write_total_trace(tmp_path / "t.csv", [0.37, 1.11])
    trace = ArrivalTrace(TraceSpec(file=path, scale=1.0, burstiness_cv=0.0))
    counts = _draws(trace, 20)  # 10 steps in each 600 s window
    assert counts.sum() == round(0.37 * 600 + 1.11 * 600)
    assert set(np.diff(counts[:10])) <= {-1, 0, 1}  # evenly spread, no bursts


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0])
def test_count_dispersion_follows_the_burstiness_cv(tmp_path: Path, cv: float) -> None:
    path = write_total_trace(tmp_path / "t.csv", [2.0])
    trace = ArrivalTrace(TraceSpec(file=path, scale=1.0, burstiness_cv=cv))
    counts = _draws(trace, 4000)
    assert counts.mean() == pytest.approx(120, rel=0.03)
    assert counts.var() / counts.mean() == pytest.approx(cv * cv, rel=0.15)


def test_scale_multiplies_the_expected_rate(tmp_path: Path) -> None:
    path = write_total_trace(tmp_path / "t.csv", [10.0])
    trace = ArrivalTrace(TraceSpec(file=path, scale=0.25, burstiness_cv=0.0))
    assert _draws(trace, 10).sum() == 10 * 60 * 10 * 0.25


def test_offset_and_loop_choose_the_window(tmp_path: Path) -> None:
    path = write_total_trace(tmp_path / "t.csv", [1.0, 5.0])
    shifted = ArrivalTrace(TraceSpec(file=path, offset_seconds=600))
    assert shifted.expected(0, 60) == 300.0
    assert shifted.expected(600, 60) == 60.0  # wrapped back to the first window


def test_a_trace_without_loop_is_silent_after_its_end(tmp_path: Path) -> None:
    path = write_total_trace(tmp_path / "t.csv", [5.0])
    trace = ArrivalTrace(TraceSpec(file=path, loop=False))
    assert _draws(trace, 10)[:10].sum() > 0
    assert trace.arrivals(600, 60, np.random.default_rng(0)) == 0


def test_servegen_client_rows_use_their_own_cv(tmp_path: Path) -> None:
    path = tmp_path / "client.csv"
    path.write_text("0,0.5,0,,0,0\n600,0,0,,0,0\n")
    trace = ArrivalTrace(TraceSpec(file=path, format="servegen-client", burstiness_cv=3.0))
    counts = _draws(trace, 20)
    assert list(counts[:10]) == [30] * 10  # cv 0 from the row: deterministic
    assert counts[10:].sum() == 0  # rate 0 window


def test_azure_requests_are_binned_by_their_real_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "azure.csv"
    path.write_text("\n".join(AZURE_ROWS) + "\n")
    trace = ArrivalTrace(TraceSpec(file=path, format="azure-requests", loop=False))
    assert list(_draws(trace, 3)) == [3, 1, 1]


def test_azure_scale_two_replicates_each_request(tmp_path: Path) -> None:
    path = tmp_path / "azure.csv"
    path.write_text("\n".join(AZURE_ROWS) + "\n")
    trace = ArrivalTrace(TraceSpec(file=path, format="azure-requests", scale=2.0, loop=False))
    assert list(_draws(trace, 3)) == [6, 2, 2]


def test_azure_scale_below_one_thins_requests(tmp_path: Path) -> None:
    rows = AZURE_ROWS[:1] + [f"2023-11-16 18:17:{s / 100:05.2f},1,1" for s in range(5000)]
    path = tmp_path / "azure.csv"
    path.write_text("\n".join(rows) + "\n")
    trace = ArrivalTrace(TraceSpec(file=path, format="azure-requests", scale=0.3, loop=False))
    assert _draws(trace, 1)[0] == pytest.approx(1500, rel=0.1)


def test_a_missing_trace_file_is_a_scenario_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.csv: no such trace file"):
        ArrivalTrace(TraceSpec(file=tmp_path / "nope.csv"))


def test_a_malformed_row_is_a_scenario_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("window_start_s,total_rate_rps,active_clients\n0,1.0,1\n600,lots,2\n")
    with pytest.raises(ScenarioError, match=r"bad\.csv:3: trace row '600,lots,2'.*Fix"):
        ArrivalTrace(TraceSpec(file=path))


def test_a_bad_azure_timestamp_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "az.csv"
    path.write_text("\n".join([*AZURE_ROWS[:2], "yesterday,1,1"]) + "\n")
    with pytest.raises(ScenarioError, match=r"az\.csv:3: .*TIMESTAMP"):
        ArrivalTrace(TraceSpec(file=path, format="azure-requests"))


def test_the_outlook_gives_each_window_its_own_cv(tmp_path: Path) -> None:
    from datetime import timedelta

    from gpusteward.app.foresight import TraceOutlook
    from tests.sim.conftest import START, model, sim_spec

    path = tmp_path / "client.csv"  # three 10-minute windows: calm, bursty, idle
    path.write_text("0,1.0,0.5,,0,0\n600,3.0,2.5,,0,0\n1200,0,9.0,,0,0\n")
    trace_kw = {"format": "servegen-client"}
    outlook = TraceOutlook(sim_spec([model(trace=path, trace_kw=trace_kw)]), 1800.0)
    key = "serving/m"
    at = START
    assert outlook.burstiness_cv(key) == pytest.approx((0.5 * 1 + 2.5 * 3) / 4)  # whole run
    assert outlook.burstiness_cv(key, at, at + timedelta(seconds=240)) == 0.5
    assert (
        outlook.burstiness_cv(key, at + timedelta(seconds=420), at + timedelta(seconds=660)) == 2.5
    )
    # a window without traffic does not count; with nothing but that, the run's cv
    late = at + timedelta(seconds=1260)
    assert outlook.burstiness_cv(key, late, late + timedelta(seconds=240)) == pytest.approx(2.0)


def test_a_client_file_declared_a_total_is_refused_not_stripped_of_its_cv(tmp_path: Path) -> None:
    client = tmp_path / "chunk-0-trace.csv"
    client.write_text("0,0.5,2.5,Gamma,0.2,1.0\n600,0.7,2.5,Gamma,0.2,1.0\n")
    with pytest.raises(
        ScenarioError, match=r"chunk-0-trace\.csv:1: .*window_start_s,total_rate_rps"
    ):
        ArrivalTrace(TraceSpec(file=client, format="servegen-total"))


@pytest.mark.parametrize("fmt", ["servegen-total", "servegen-client"])
def test_a_rate_no_cluster_serves_is_refused_naming_file_row_and_bound(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / "huge.csv"
    total = "window_start_s,total_rate_rps,active_clients\n0,1.0,3\n600,1e300,3\n"
    client = "0,1.0,1.0,,0,0\n600,1e300,1.0,,0,0\n"
    path.write_text(total if fmt == "servegen-total" else client)
    with pytest.raises(ScenarioError, match=r"huge\.csv:\d: trace row '600,1e300.*10000000"):
        ArrivalTrace(TraceSpec(file=path, format=fmt))  # type: ignore[arg-type]


def test_an_event_multiplies_the_rate_for_its_stretch_of_the_run(tmp_path: Path) -> None:
    path = write_total_trace(tmp_path / "t.csv", [10.0])
    event = LoadEvent(after_seconds=600, duration_seconds=1200, multiplier=3.0)
    trace = ArrivalTrace(TraceSpec(file=path, burstiness_cv=0.0, events=(event,)))
    counts = _draws(trace, 40)  # 40 one-minute steps; the event covers steps 10-29
    assert list(counts[[0, 9, 10, 29, 30, 39]]) == [600, 600, 1800, 1800, 600, 600]
    assert trace.expected(900, 60) == 1800.0 and trace.expected(1800, 60) == 600.0
