"""benchmarks/scaling.py judges planners under hard limits only, unless told otherwise."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from policies.engine import load_policy
from tests.helpers import benchmark_module

ROOT = Path(__file__).resolve().parents[2]


def _scaling() -> ModuleType:
    return benchmark_module("scaling")


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
        (["--trace", "/nowhere/trace.csv"], r"/nowhere/trace\.csv: trace file not found"),
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
    row = next(t for t in _scaling().evaluate(only) if "baselines better" in t["name"])
    assert row["met"] is False and row["value"].startswith("not measured")
    both = {**only, "reactive": _result(130, 0.991), "dynamo": _result(110, 0.997)}
    row = next(t for t in _scaling().evaluate(both) if "baselines better" in t["name"])
    assert row["met"] is False and row["value"] == "dynamo"
    del both["dynamo"]
    row = next(t for t in _scaling().evaluate(both) if "baselines better" in t["name"])
    assert row["met"] is True and row["value"] == "none (of reactive)"
