"""benchmarks/scaling.py judges planners under hard limits only, unless told otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

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
