"""`replay SCENARIO --planner KIND` / `--forecaster KIND`: the scenario's own settings
for that kind are kept, not reset to defaults (a probe found them dropped: "as configured"
and "what-if: forecast" then ran different planners under one label)."""

from __future__ import annotations

from agents.forecast_config import ForecastPlannerConfig
from agents.reactive import ReactiveConfig
from forecasting.auto import AutoForecaster, AutoForecasterConfig, LastValueConfig
from gpusteward.app.replay_setup import forecaster_for, planner_config


def test_the_same_planner_kind_keeps_the_scenarios_settings() -> None:
    own = ForecastPlannerConfig(quantile=0.95, min_dwell_seconds=3600, max_step_down=1)
    assert planner_config("forecast", own=own) == own
    assert planner_config("forecast") == ForecastPlannerConfig()  # no scenario: defaults
    assert planner_config("reactive", own=own) == ReactiveConfig()  # another kind: defaults


def test_the_same_forecaster_kind_keeps_the_scenarios_settings() -> None:
    own = AutoForecasterConfig(prophet=False)
    chosen = forecaster_for("auto", own)
    assert isinstance(chosen, AutoForecaster) and chosen.config.prophet is False
    other = forecaster_for("auto", LastValueConfig())
    assert isinstance(other, AutoForecaster) and other.config == AutoForecasterConfig()
