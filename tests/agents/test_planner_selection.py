"""A scenario's `planner:` block selects any planner; the composition root builds it."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from agents.baselines import OraclePlanner
from agents.forecast_aware import ForecastPlanner
from agents.reactive import ReactivePlanner
from agents.registry import PLANNER_KINDS
from forecasting.auto import AutoForecaster
from gpusteward.app.parts import build_forecaster, build_planner
from gpusteward.app.scenario import Scenario, load_scenario


def _with_planner(planner: dict[str, object]) -> Scenario:
    base = load_scenario("quickstart")
    return Scenario.model_validate({**base.model_dump(), "planner": planner})


@pytest.mark.parametrize("kind", PLANNER_KINDS)
def test_every_planner_kind_can_be_selected_and_built(kind: str) -> None:
    planner = build_planner(_with_planner({"kind": kind}))
    assert planner.name == kind


def test_the_default_planner_is_still_reactive_and_the_forecaster_auto() -> None:
    scenario = load_scenario("quickstart")
    assert isinstance(build_planner(scenario), ReactivePlanner)
    assert isinstance(build_forecaster(scenario), AutoForecaster)


def test_planner_fields_are_validated_per_kind() -> None:
    with pytest.raises(ValidationError, match="hysteresis"):
        _with_planner({"kind": "forecast", "hysteresis": 2})
    with pytest.raises(ValidationError, match="kind"):
        _with_planner({"kind": "psychic"})


def test_forecast_planner_gets_capacity_priors_from_the_model_profile() -> None:
    planner = build_planner(_with_planner({"kind": "forecast"}))
    assert isinstance(planner, ForecastPlanner)
    assert planner.capacity.per_replica("serving/m-large", "H100-80GB") == 1.6


def test_the_oracle_checkpoint_carries_the_trace_spec_not_the_trace() -> None:
    planner = build_planner(_with_planner({"kind": "oracle"}))
    assert isinstance(planner, OraclePlanner)
    data = pickle.dumps(planner)
    assert len(data) < 10_000
    restored = pickle.loads(data)
    assert restored.outlook.overall_peak("serving/m-large") > 0
