"""What every policy rule shares: its id, what it matches, its effect and message, and
the action kinds a rule may name. The rule kinds themselves are in `policies.document`
(and `policies.zoo_document`)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated

from pydantic import Field, field_validator

from gpusteward.core.actions import ActionKind
from gpusteward.core.cluster import WorkloadClass
from gpusteward.core.documents import parse_duration
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Effect, RuleMode, Severity

SLUG = r"^[a-z0-9][a-z0-9-]*$"
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


def duration(value: str | int | float) -> float:
    return parse_duration(value)


Duration = Annotated[float, Field(gt=0)]


class Match(Frozen):
    """Which actions a rule applies to; an empty list matches everything."""

    actions: tuple[ActionKind, ...] = ()
    namespaces: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    deployments: tuple[str, ...] = Field(default=(), description="namespace/name")
    workloads: tuple[WorkloadClass, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict, description="All must match")


class RuleBase(Frozen):
    id: str = Field(pattern=SLUG)
    description: str = ""
    match: Match = Match()
    effect: Effect = "deny"
    mode: RuleMode = "enforce"
    message: str | None = Field(default=None, description="Template; {name} = a value seen")
    approver_group: str | None = None
    expires: str | int | None = Field(default=None, description="Approval expiry, e.g. '1h'")
    severity: Severity = Severity.MEDIUM

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            duration(value)
        return value

    @cached_property
    def expires_seconds(self) -> float | None:
        return duration(self.expires) if self.expires is not None else None

    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.message or ""))
