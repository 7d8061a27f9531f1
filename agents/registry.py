"""Planner configs as one discriminated union (the scenario's `planner:` block), and the
factory that builds a planner from one. What a planner needs from outside (capacity
priors from the model profiles; the load outlook for oracle and static peak) is passed
in by the composition root."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from agents.adapter_merge import AdapterMergeConfig, AdapterMergePlanner
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
from agents.composite import CompositePlanner
from agents.consolidation import ConsolidationConfig, ConsolidationPlanner
from agents.forecast_aware import ForecastPlanner
from agents.forecast_config import ForecastPlannerConfig
from agents.gpu_choice import GpuChoiceConfig, GpuChoicePlanner
from agents.hygiene import HygieneConfig, HygienePlanner
from agents.reactive import ReactiveConfig, ReactivePlanner
from agents.scale_to_zero import ScaleToZeroConfig, ScaleToZeroPlanner
from agents.scaling import LoadOutlook
from gpusteward.core.model import Frozen
from gpusteward.core.ports import Planner

_Scaling = (
    ReactiveConfig
    | StaticPeakConfig
    | KpaConfig
    | DynamoConfig
    | OracleConfig
    | ForecastPlannerConfig
)
ScalingPlannerConfig = Annotated[_Scaling, Field(discriminator="kind")]


class CompositeConfig(Frozen):
    """A scaling planner plus consolidation, hygiene and / or GPU-type choice in the same
    tick; their proposals are merged in that order, scaling first (see `agents.composite`);
    `adapter_merge` (LoRA fine-tunes onto their base model's runtime) runs after
    consolidation.
    With `scale_to_zero`, the scaling planner is wrapped by the scale-to-zero planner
    (`agents.scale_to_zero`): deployments with `min_replicas: 0` park at zero when idle."""

    kind: Literal["composite"] = "composite"
    scaling: ScalingPlannerConfig = ReactiveConfig()
    scale_to_zero: ScaleToZeroConfig | None = None
    adapter_merge: AdapterMergeConfig | None = None
    consolidation: ConsolidationConfig | None = None
    hygiene: HygieneConfig | None = None
    gpu_choice: GpuChoiceConfig | None = None


PlannerConfig = Annotated[_Scaling | CompositeConfig, Field(discriminator="kind")]
PLANNER_KINDS = ("reactive", "static-peak", "kpa", "dynamo", "oracle", "forecast", "composite")
NEEDS_OUTLOOK = ("oracle", "static-peak")


def needs_outlook(config: PlannerConfig) -> bool:
    """Whether the planner (or a composite's scaling planner) needs the future load."""
    scaling = config.scaling if isinstance(config, CompositeConfig) else config
    return scaling.kind in NEEDS_OUTLOOK


def make_planner(
    config: PlannerConfig, priors: Priors, outlook: LoadOutlook | None = None
) -> Planner:
    """The planner `config` describes. Oracle and static peak need `outlook`."""
    if isinstance(config, CompositeConfig):
        others: list[Planner] = []
        if config.consolidation is not None:
            others.append(ConsolidationPlanner(config.consolidation))
        if config.adapter_merge is not None:
            others.append(AdapterMergePlanner(config.adapter_merge))
        if config.hygiene is not None:
            others.append(HygienePlanner(config.hygiene))
        if config.gpu_choice is not None:
            others.append(GpuChoicePlanner(config.gpu_choice, priors))
        scaling = make_planner(config.scaling, priors, outlook)
        if config.scale_to_zero is not None:
            scaling = ScaleToZeroPlanner(scaling, config.scale_to_zero)
        return CompositePlanner(scaling, others)
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
