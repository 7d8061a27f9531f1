"""Planner configs as one discriminated union (the scenario's `planner:` block), and the
factory that builds a planner from one. What a planner needs from outside (capacity
priors from the model profiles; the load outlook for oracle and static peak) is passed
in by the composition root."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agents.baselines import (
    DynamoConfig,
    DynamoPlanner,
    KpaConfig,
    KpaPlanner,
    OracleConfig,
    OraclePlanner,
    StaticPeakConfig,
    StaticPeakPlanner,
)
from agents.capacity import Priors
from agents.forecast_aware import ForecastPlanner, ForecastPlannerConfig
from agents.reactive import ReactiveConfig, ReactivePlanner
from agents.scaling import LoadOutlook
from gpusteward.core.ports import Planner

PlannerConfig = Annotated[
    ReactiveConfig
    | StaticPeakConfig
    | KpaConfig
    | DynamoConfig
    | OracleConfig
    | ForecastPlannerConfig,
    Field(discriminator="kind"),
]
PLANNER_KINDS = ("reactive", "static-peak", "kpa", "dynamo", "oracle", "forecast")


def make_planner(
    config: PlannerConfig, priors: Priors, outlook: LoadOutlook | None = None
) -> Planner:
    """The planner `config` describes. Oracle and static peak need `outlook`."""
    if isinstance(config, ReactiveConfig):
        return ReactivePlanner(config)
    if isinstance(config, KpaConfig):
        return KpaPlanner(config, priors)
    if isinstance(config, DynamoConfig):
        return DynamoPlanner(config, priors)
    if isinstance(config, ForecastPlannerConfig):
        return ForecastPlanner(config, priors)
    if outlook is None:
        raise ValueError(
            f"planner kind {config.kind!r} needs the future load (a LoadOutlook); only a "
            "simulated run can give one. Fix: use reactive, kpa, dynamo or forecast."
        )
    if isinstance(config, OracleConfig):
        return OraclePlanner(config, priors, outlook)
    return StaticPeakPlanner(config, priors, outlook)
