"""Policy files: the YAML schema of a policy set and its rules, validated strictly.

A rule is a condition of one `kind` with typed parameters; when it matches an action
and its condition holds ("fires"), its `effect` applies. Deny > NeedsApproval > Allow;
an action that no enforced rule allows gets `defaults.unmatched` (NeedsApproval).
`mode: warn | audit` rules are evaluated and recorded but never change a verdict.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from gpusteward.core.actions import ActionKind
from gpusteward.core.cluster import Pool
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Effect, Severity
from policies.rule_base import (
    Duration,
    Match,
    RuleBase,
    duration,
)
from policies.zoo_document import AdapterMergeRule, ModelSelector, ScaleToZeroRule, selects

PACKS_DIR = Path(__file__).parent / "packs"  # shipped policy packs (read by the caller)
__all__ = [
    "PACKS_DIR",
    "ActionKind",
    "AdapterMergeRule",
    "Duration",
    "Match",
    "ModelSelector",
    "PolicyDocument",
    "RuleSpec",
    "ScaleToZeroRule",
    "in_window",
    "selects",
]


class AllowRule(RuleBase):
    """Fires whenever it matches: grants `allow` (or any effect) to a class of actions."""

    kind: Literal["allow"]
    effect: Effect = "allow"


class ReplicaBoundsRule(RuleBase):
    """Fires when replicas after the action fall outside [min, max] (the deployment's own
    bounds unless overridden here)."""

    kind: Literal["replica-bounds"]
    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=0)


class MaxStepRule(RuleBase):
    """Fires when one action, or the last hour's changes plus it, moves replicas by more."""

    kind: Literal["max-step"]
    per_action: int | None = Field(default=None, ge=1, description="replicas per action")
    per_hour: int | None = Field(default=None, ge=1, description="replicas per hour per target")
    direction: Literal["up", "down", "both"] = "both"

    @model_validator(mode="after")
    def _some_limit(self) -> MaxStepRule:
        if self.per_action is None and self.per_hour is None:
            raise ValueError("max-step needs per_action or per_hour (replicas)")
        return self


class GpuBudgetRule(RuleBase):
    """Fires when an action that adds GPUs would take held GPUs over the budget."""

    kind: Literal["gpu-budget"]
    scope: Literal["cluster", "namespace"] = "cluster"
    max_gpus: int | None = Field(default=None, ge=0)
    max_share: float | None = Field(default=None, gt=0, le=1, description="of cluster GPUs")
    per_namespace: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_budget(self) -> GpuBudgetRule:
        if self.max_gpus is None and self.max_share is None and not self.per_namespace:
            raise ValueError("gpu-budget needs max_gpus, max_share or per_namespace")
        return self


class CostBudgetRule(RuleBase):
    """Fires when an action that adds cost would take the hourly cost over the budget."""

    kind: Literal["cost-budget"]
    scope: Literal["cluster", "namespace"] = "cluster"
    max_usd_per_hour: float | None = Field(default=None, ge=0)
    per_namespace: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_budget(self) -> CostBudgetRule:
        if self.max_usd_per_hour is None and not self.per_namespace:
            raise ValueError("cost-budget needs max_usd_per_hour or per_namespace")
        return self


class CooldownRule(RuleBase):
    """Fires when the same target was acted on less than `seconds` ago."""

    kind: Literal["cooldown"]
    seconds: str | int = Field(description="e.g. '5m'")
    opposite_direction_only: bool = Field(
        default=False, description="Only a reversal (up after down, or down after up) fires"
    )

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: str | int) -> str | int:
        duration(value)
        return value

    @cached_property
    def window_seconds(self) -> float:
        return duration(self.seconds)


class RateLimitRule(RuleBase):
    """Fires when `max_actions` matching actions already ran (or were allowed this tick)
    within `window`."""

    kind: Literal["rate-limit"]
    max_actions: int = Field(ge=0)
    window: str | int
    scope: Literal["cluster", "namespace", "target"] = "cluster"

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        duration(value)
        return value

    @cached_property
    def window_seconds(self) -> float:
        return duration(self.window)


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WeeklyWindow(Frozen):
    """Every week on `days`, from `start` to `end` local time (end <= start: next day)."""

    days: tuple[Weekday, ...] = Field(min_length=1)
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'"
            ) from None
        return value


class FixedWindow(Frozen):
    """One absolute window, e.g. a launch or an end-of-quarter freeze."""

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> FixedWindow:
        if self.end <= self.start:
            raise ValueError(f"'to' ({self.end}) must be after 'from' ({self.start})")
        return self


class ChangeFreezeRule(RuleBase):
    kind: Literal["change-freeze"]
    windows: tuple[WeeklyWindow | FixedWindow, ...] = Field(min_length=1)


class ProtectedRule(RuleBase):
    """Fires when the action touches a protected namespace, model, deployment, node or label."""

    kind: Literal["protected"]
    namespaces: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict, description="Any one matching fires")


class ForecastCoverRule(RuleBase):
    """Fires when a scale-down leaves less capacity than the forecast's upper band needs."""

    kind: Literal["forecast-cover"]
    quantile: Literal["p50", "p90"] = "p90"
    headroom: float = Field(default=1.0, gt=0, description="Multiply the forecast by this")


class PoolClassRule(RuleBase):
    """Fires when realtime inference would run on a training pool, or training elsewhere."""

    kind: Literal["pool-class"]
    training_pools: tuple[Pool, ...] = (Pool.TRAINING,)


class CapacityChangeCapRule(RuleBase):
    """Fires when GPUs touched this tick (earlier allowed actions + this one) exceed a share."""

    kind: Literal["capacity-change-cap"]
    max_share: float = Field(gt=0, le=1)


class RetireRecentTrafficRule(RuleBase):
    """Fires when a model to retire served more than `min_rps` within the last `days`."""

    kind: Literal["retire-recent-traffic"]
    effect: Effect = "needs_approval"
    days: float = Field(default=7.0, gt=0)
    min_rps: float = Field(default=0.0, ge=0)


class CelRule(RuleBase):
    """Fires when a CEL expression over the action's context is true."""

    kind: Literal["cel"]
    expression: str = Field(min_length=1)


RuleSpec = Annotated[
    AllowRule
    | ReplicaBoundsRule
    | MaxStepRule
    | GpuBudgetRule
    | CostBudgetRule
    | CooldownRule
    | RateLimitRule
    | ChangeFreezeRule
    | ProtectedRule
    | ForecastCoverRule
    | PoolClassRule
    | CapacityChangeCapRule
    | RetireRecentTrafficRule
    | ScaleToZeroRule
    | AdapterMergeRule
    | CelRule,
    Field(discriminator="kind"),
]


class Defaults(Frozen):
    approver_group: str = "oncall"
    expires: str | int = "1h"
    severity: Severity = Severity.MEDIUM
    unmatched: Effect = Field(
        default="needs_approval", description="Verdict for an action no enforced rule allows"
    )

    @cached_property
    def expires_seconds(self) -> float:
        return duration(self.expires)

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: str | int) -> str | int:
        duration(value)
        return value


class PolicyDocument(Frozen):
    """A policy file. Its rule ids are unique: `policies.engine.load_policy` checks that,
    where it knows each rule's line (a validator here could only point at line 1)."""

    name: str = Field(min_length=1)
    description: str = ""
    defaults: Defaults = Defaults()
    rules: tuple[RuleSpec, ...] = Field(min_length=1)


def in_window(window: WeeklyWindow | FixedWindow, now: datetime) -> bool:
    """Whether `now` (tz-aware) falls inside the window."""
    if isinstance(window, FixedWindow):
        return window.start <= now < window.end
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(window.timezone))
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    minute = local.hour * 60 + local.minute
    start = int(window.start[:2]) * 60 + int(window.start[3:])
    end = int(window.end[:2]) * 60 + int(window.end[3:])
    today = days[local.weekday()]
    yesterday = days[(local.weekday() - 1) % 7]
    if start < end:
        return today in window.days and start <= minute < end
    # crosses midnight: the part after `start` today, or the part before `end` from yesterday
    return (today in window.days and minute >= start) or (yesterday in window.days and minute < end)
