"""What a scenario contributes to every run, whichever backend runs it: its id (which
journal belongs to it), its policy, planner and forecaster, and the check that its
forecast horizon reaches what the planner needs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from agents.forecast_config import ForecastPlannerConfig
from agents.registry import CompositeConfig, make_planner, needs_outlook
from forecasting.auto import AutoForecaster, AutoForecasterConfig
from forecasting.baselines import LastValueForecaster
from forecasting.guards import MAX_MIX_STEPS
from gpusteward.app.foresight import TraceOutlook
from gpusteward.app.scenario import Scenario
from gpusteward.core.errors import SettingsError
from gpusteward.core.ports import Forecaster, Planner
from gpusteward.core.user_files import read_user_file
from policies.engine import RulePolicyEngine, load_policy


def scenario_id(scenario: Scenario) -> str:
    """Name plus a digest of the scenario's content: a journal belongs to one scenario.
    Fields added since journals were first bound to scenarios are left out while they
    hold their defaults, so a journal written before them still resumes."""
    body = scenario.model_dump_json(exclude=_added_at_default(scenario))
    return f"{scenario.name}@{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def _added_at_default(scenario: Scenario) -> dict[str, Any]:
    """What `scenario_id` leaves out: the description, and each field added in issue 26
    (ground truth, the incident knobs, token lengths, HPA's scale-up window) where every
    occurrence holds its default."""
    out: dict[str, Any] = {"description": True}
    if not scenario.ground_truth:
        out["ground_truth"] = True
    if scenario.faults.spot_wave_after_seconds is None:
        out["faults"] = {"spot_wave_after_seconds": True}
    models = scenario.models
    used = {
        "batch_efficiency": any(m.batch_efficiency != 1.0 for m in models),
        "artifact_transfer_seconds": any(m.artifact_transfer_seconds for m in models),
        "tokens": any(m.tokens is not None for m in models),
    }
    unused = [k for k, u in used.items() if not u]
    if unused:
        out["models"] = {"__all__": dict.fromkeys(unused, True)}
    window = {"scale_up_stabilisation_seconds": True}
    planner = scenario.planner.model_dump()
    scaling = planner.get("scaling") or {}
    if not planner.get("scale_up_stabilisation_seconds") and not scaling.get(
        "scale_up_stabilisation_seconds"
    ):
        out["planner"] = {**window, "scaling": window}
    return out


def load_policy_file(path: Path) -> RulePolicyEngine:
    """Read and compile a policy file; every problem is an `InputError` naming the file."""
    text = read_user_file(path, "policy file", error=SettingsError)
    return RulePolicyEngine(load_policy(text, str(path)))


def build_planner(scenario: Scenario) -> Planner:
    """The scenario's planner, with capacity priors from the model profiles; the oracle and
    static-peak planners also get the future load from the scenario's traces."""
    spec = scenario.sim_spec()
    priors = {m.key: dict(m.profile.throughput_rps) for m in spec.models}
    outlook = None
    if needs_outlook(scenario.planner):
        outlook = TraceOutlook(spec, scenario.duration_seconds)
    return make_planner(scenario.planner, priors, outlook)


def check_horizon(horizon_seconds: float, interval: float, scenario: Scenario) -> None:
    """With the `auto` forecaster, the forecast horizon in ticks must be one its online mix
    takes; else every tick's forecast would be a flagged last value. With the forecast
    planner, it must reach the planner's lead (cold start + a tick); else it would size
    for the last point it has and call that the lead."""
    ticks = horizon_seconds / interval
    if isinstance(scenario.forecaster, AutoForecasterConfig) and ticks > MAX_MIX_STEPS:
        raise SettingsError(
            f"GPUSTEWARD_FORECAST_HORIZON_SECONDS={horizon_seconds:g} is "
            f"{ticks:.0f} ticks of {interval:g} s; the forecaster takes at most "
            f"{MAX_MIX_STEPS}. Fix: a horizon of at most {MAX_MIX_STEPS * interval:g} s, or "
            "a longer tick interval (GPUSTEWARD_INTERVAL_SECONDS)."
        )
    planner = scenario.planner
    if isinstance(planner, CompositeConfig):
        planner = planner.scaling
    lead = max(m.cold_start_seconds for m in scenario.models) + interval
    if isinstance(planner, ForecastPlannerConfig) and horizon_seconds < lead:
        raise SettingsError(
            f"GPUSTEWARD_FORECAST_HORIZON_SECONDS={horizon_seconds:g}: the "
            f"forecast planner sizes for the load {lead:g} s ahead (the longest cold start "
            f"plus a tick), past the forecast's end. Fix: a horizon of at least {lead:g} s."
        )


def build_forecaster(scenario: Scenario) -> Forecaster:
    """A fresh forecaster: its state is a cache, rebuilt from the history after a resume."""
    config = scenario.forecaster
    if isinstance(config, AutoForecasterConfig):
        return AutoForecaster(config)
    return LastValueForecaster()
