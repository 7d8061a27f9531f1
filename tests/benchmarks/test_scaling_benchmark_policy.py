"""benchmarks/scaling.py judges planners under hard limits only, unless told otherwise."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gpusteward.core.errors import InputError
from policies.engine import load_policy
from tests.helpers import benchmark_module

ROOT = Path(__file__).resolve().parents[2]


def _scaling() -> ModuleType:
    return benchmark_module("scaling")


def _report() -> ModuleType:
    return benchmark_module("scaling_report")


def _args(**extra: object) -> argparse.Namespace:
    base = dict(
        scenario="servegen-14d", cold_start=180.0, trace=None, format="servegen-total",
        days=1, attainment=0.995, forecaster="auto", forecast_config={}, seed=None,
    )  # fmt: skip
    return argparse.Namespace(**{**base, **extra})


def test_planners_are_judged_by_the_hard_limits_only_by_default() -> None:
    bench = _scaling()
    scenario = bench.prepare_scenario(_args(policy="planners-only"), "static-peak")
    assert Path(scenario.policy) == ROOT / "benchmarks/planners_only.yaml"
    policy = load_policy(Path(scenario.policy).read_text(), scenario.policy)
    kinds = {r.kind for r in policy.document.rules}
    # no approvals (nobody answers them in a benchmark), no forecast-cover (it would hold
    # the oracle above its own plan): only the limits no planner may cross
    assert kinds == {"replica-bounds", "gpu-budget", "allow"}


def test_the_scenarios_own_pack_on_request_and_a_missing_file_is_an_error() -> None:
    bench = _scaling()
    own = bench.prepare_scenario(_args(policy="default"), "oracle")
    assert Path(own.policy).name == "default.yaml"
    with pytest.raises(SystemExit, match=r"--policy nowhere\.yaml: no such file"):
        bench.prepare_scenario(_args(policy="nowhere.yaml"), "oracle")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--forecast-config", "{bad"], r"--forecast-config: not JSON"),
        (["--forecast-config", "[1]"], r"--forecast-config: expected a JSON object"),
        (["--forecast-config", '{"margin_above_quantil": 0.9}'], r"margin_above_quantil: Extra"),
        (["--forecast-config", '{"margin_above_quantile": 2}'], r"margin_above_quantile: Input"),
        (["--planners", "oracle,forcast"], r"--planners: unknown forcast; choose from oracle"),
        (["--trace", "/nowhere/trace.csv"], r"--trace /nowhere/trace\.csv: no such trace file"),
        (["--forecast-config", '{"kind": "oracle"}'], r"'kind' would replace the forecast planner"),
        (["--days", "1.5"], r"--days: not a whole number: '1.5'"),
        (["--png", "/nowhere/plot.png"], r"--png /nowhere/plot\.png: the folder /nowhere does"),
        (["--workers", "0"], r"--workers: 0: processes from 1 to 64"),
        (["--seed", "-1"], r"--seed: -1: an integer from 0"),
        (["--days", "0"], r"--days: 0: whole days from 1 to 366"),
        (["--cold-start", "nan"], r"--cold-start: nan: seconds from 0 to 86400"),
        (["--cold-start", "inf"], r"--cold-start: inf: seconds"),
        (["--attainment", "2"], r"--attainment: 2: a share from 0.5"),
        (["--policy", __file__.replace(".py", ".pyc-missing")], r"--policy .*: no such file"),
    ],
)
def test_bad_options_stop_before_any_run_with_a_message_naming_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    bench = _scaling()
    monkeypatch.setattr("sys.argv", ["scaling.py", "--days", "1", "--png", "", *argv])
    monkeypatch.setattr(bench, "run_one", _must_not_run)
    with pytest.raises(SystemExit) as exit_:
        bench.main()
    assert exit_.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def _must_not_run(*_: object) -> None:
    raise AssertionError("a 14-day run started on bad input")


def _result(gpu_hours: float, attainment: float) -> dict[str, Any]:
    return {"models": {"m": {"gpu_hours": gpu_hours, "attainment": attainment}}}


def test_the_baseline_target_is_not_met_when_no_baseline_ran() -> None:
    only = {"oracle": _result(100, 0.999), "forecast": _result(118, 0.996)}
    row = next(t for t in _report().evaluate(only) if "baselines better" in t["name"])
    assert row["met"] is False and row["value"].startswith("not measured")
    both = {**only, "reactive": _result(130, 0.991), "dynamo": _result(110, 0.997)}
    row = next(t for t in _report().evaluate(both) if "baselines better" in t["name"])
    assert row["met"] is False and row["value"] == "dynamo"
    del both["dynamo"]
    row = next(t for t in _report().evaluate(both) if "baselines better" in t["name"])
    assert row["met"] is True and row["value"] == "none (of reactive)"


def test_a_binary_policy_file_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    binary = tmp_path / "policy.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xad\xff")
    bench = _scaling()
    monkeypatch.setattr("sys.argv", ["scaling.py", "--png", "", "--policy", str(binary)])
    monkeypatch.setattr(bench, "run_one", _must_not_run)
    with pytest.raises(SystemExit):
        bench.main()
    assert "policy.yaml: not UTF-8 text" in capsys.readouterr().err


def test_a_client_trace_is_read_as_one_without_format(tmp_path: Path) -> None:
    client = tmp_path / "chunk-1-trace.csv"  # headerless rows with their own cv
    client.write_text("".join(f"{i * 600},{2 + i % 3},2.5,Gamma,0.2,1.0\n" for i in range(300)))
    scenario = _scaling().prepare_scenario(
        _args(trace=str(client), format=None, policy="planners-only"), "oracle"
    )
    assert {m.trace.format for m in scenario.models} == {"servegen-client"}


def test_a_headerless_total_is_read_as_a_total_and_a_short_client_row_refused(
    tmp_path: Path,
) -> None:
    total = tmp_path / "total.csv"  # a total's three columns, header dropped
    total.write_text("".join(f"{i * 600},{5 + i % 3},40\n" for i in range(300)))
    scenario = _scaling().prepare_scenario(
        _args(trace=str(total), format=None, policy="planners-only"), "oracle"
    )
    assert {m.trace.format for m in scenario.models} == {"servegen-total"}
    # forced to read it as a client's: an error, not the third column taken for a cv of 40
    with pytest.raises(InputError, match=r"total\.csv:1: .*expected `window_start_s,rate_rps,cv"):
        _scaling().prepare_scenario(
            _args(trace=str(total), format="servegen-client", policy="planners-only"), "oracle"
        )


def test_a_figure_is_not_shown_rounded_onto_the_target_it_misses() -> None:
    only = {"oracle": _result(100, 0.999), "forecast": _result(120.04, 0.994996)}
    rows = {t["name"].split(": ")[1]: t for t in _report().evaluate(only)}
    ratio, attained = (
        rows["forecast planner GPU-hours / oracle"],
        rows["forecast planner SLO attainment"],
    )
    assert ratio["met"] is False and ratio["value"] == 1.2004
    assert attained["met"] is False and attained["value"] == 0.994996
    fine = _report().evaluate({"oracle": _result(100, 0.999), "forecast": _result(119.96, 0.99512)})
    assert [t["value"] for t in fine[:2]] == [0.99512, 1.2]
    assert _report()._ratio_cell(1.20004) == "1.20004"
    assert _report()._ratio_cell(1.18749) == "1.187"
