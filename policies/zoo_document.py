"""Rule kinds for the model zoo: which models may go to zero and after how much idle time,
and which LoRA fine-tunes may share their base model's runtime."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field

from gpusteward.core.cluster import ModelDeployment, WorkloadClass
from gpusteward.core.model import Frozen
from policies.rule_base import DurationText, RuleBase, duration


class ModelSelector(Frozen):
    """Which deployments: every non-empty field must match (labels: all of them)."""

    namespaces: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    deployments: tuple[str, ...] = Field(default=(), description="namespace/name")
    workloads: tuple[WorkloadClass, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)


class ScaleToZeroRule(RuleBase):
    """Fires on an action that takes a deployment to zero replicas (scale, retire excepted)
    when the deployment is not one `allowed` selects, or when it has had no request for
    less than `min_idle` (from the daemon's load history: a gap in it is not idle time).
    With neither set it fires on every such action (say, to ask a person about
    production models)."""

    kind: Literal["scale-to-zero"]
    allowed: ModelSelector | None = None
    min_idle: DurationText | None = Field(default=None, description="e.g. '30m'")

    @cached_property
    def min_idle_seconds(self) -> float | None:
        return duration(self.min_idle) if self.min_idle is not None else None


class AdapterMergeRule(RuleBase):
    """Fires on a merge of LoRA adapters into one runtime when a source is not a fine-tune
    of the runtime's base model, promises a stricter SLO than the runtime's, the runtime
    is not serving, it would serve more than
    `max_adapters` adapters, or the combined peak traffic of the runtime and the sources
    over the last `window` is more than `max_share` of what the runtime serves at its
    max_replicas (its observed capacity per ready replica).

    Fires on an unmerge (adapters taken off their runtime again) when the runtime does not
    serve a source as an adapter, or when the runtime's traffic now is still within
    `max_share` of what it serves at its max_replicas (the merge still fits)."""

    kind: Literal["adapter-merge"]
    max_adapters: int = Field(default=16, ge=1, le=1000, description="vLLM's --max-loras")
    window: DurationText = Field(default="1d", description="Load history the peak is taken over")
    max_share: float = Field(default=0.8, gt=0, le=1)

    @cached_property
    def window_seconds(self) -> float:
        return duration(self.window)


def selects(selector: ModelSelector, d: ModelDeployment) -> bool:
    """Whether `selector` picks deployment `d`."""
    return (
        (not selector.namespaces or d.namespace in selector.namespaces)
        and (not selector.models or d.model in selector.models)
        and (not selector.deployments or d.key in selector.deployments)
        and (not selector.workloads or d.workload in selector.workloads)
        and all(d.labels.get(k) == v for k, v in selector.labels.items())
    )
