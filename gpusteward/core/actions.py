"""Typed actions a planner may propose, and the proposal that carries one with its reasons.

Every action has a stable id: a hash of its content (kind, target, parameters and the
time it was issued for), so the same decision replayed gets the same id, and the
executor can refuse to run an id twice.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from gpusteward.core.cluster import CapacityWindow, Pool, check_ordered
from gpusteward.core.model import Frozen


class _ActionBase(Frozen):
    id: str = Field(default="", description="Stable content hash; computed when empty.")
    issued_at: AwareDatetime = Field(description="The snapshot time the action was planned on.")

    @model_validator(mode="after")
    def _stable_id(self) -> _ActionBase:
        if not self.id:
            object.__setattr__(self, "id", self.content_id())
        return self

    def content_id(self) -> str:
        body = self.model_dump(mode="json", exclude={"id"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return f"{body['kind']}-{digest[:16]}"

    @property
    def target(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class ScaleDeployment(_ActionBase):
    kind: Literal["scale"] = "scale"
    deployment: str = Field(description="namespace/name")
    replicas: int = Field(ge=0)
    from_replicas: int | None = Field(default=None, ge=0, description="Spec when planned.")

    @property
    def target(self) -> str:
        return self.deployment

    def describe(self) -> str:
        if self.from_replicas is None:
            return f"scale {self.deployment} to {self.replicas}"
        return f"scale {self.deployment} {self.from_replicas} -> {self.replicas}"


class PrewarmReplicas(_ActionBase):
    kind: Literal["prewarm"] = "prewarm"
    deployment: str
    count: int = Field(ge=1)
    ready_by: AwareDatetime | None = None
    expected_from: AwareDatetime | None = Field(
        default=None,
        description="When the planner expects the first request at the earliest: a request "
        "before it was not foreseen by this pre-warm (None: not said).",
    )

    @property
    def target(self) -> str:
        return self.deployment

    def describe(self) -> str:
        return f"pre-warm {self.count} replica(s) of {self.deployment}"


class ScheduleCapacity(_ActionBase):
    """Reserve capacity for an announced event: at least `replicas` Ready from `start` to
    `end`. Executing it records the window on the deployment; the planners then start the
    replicas one cold start ahead of `start` and keep them until `end`, when it lapses."""

    kind: Literal["schedule"] = "schedule"
    deployment: str = Field(description="namespace/name")
    replicas: int = Field(ge=1)
    start: AwareDatetime = Field(description="When the event starts: replicas Ready by then.")
    end: AwareDatetime = Field(description="When the event ends and the window lapses.")
    load_multiplier: float | None = Field(
        default=None,
        gt=0,
        le=20,
        description="Announced load as a multiple of normal: the replicas are re-sized from "
        "the live load just before `start` (never below `replicas`).",
    )
    note: str = Field(default="", max_length=500, description="The operator's words, quoted.")

    def content_id(self) -> str:
        """Without the planning time: the same announcement planned on two ticks is one
        action (one approval request, executed once)."""
        body = self.model_dump(mode="json", exclude={"id", "issued_at"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return f"{body['kind']}-{digest[:16]}"

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleCapacity:
        check_ordered(self.start, self.end)
        return self

    @property
    def target(self) -> str:
        return self.deployment

    def window(self) -> CapacityWindow:
        """What executing it leaves on the deployment (either backend)."""
        return CapacityWindow(
            replicas=self.replicas,
            start=self.start,
            end=self.end,
            load_multiplier=self.load_multiplier,
            action_id=self.id,
        )

    def describe(self) -> str:
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        until = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%m-%d %H:%M")
        size = f" ({self.load_multiplier:g}x the load before)" if self.load_multiplier else ""
        return (
            f"schedule {self.deployment} >= {self.replicas} replica(s){size} "
            f"{start:%Y-%m-%d %H:%M}-{until} UTC"
        )


class MoveDeployment(_ActionBase):
    kind: Literal["move"] = "move"
    deployment: str
    to_pool: Pool | None = None
    to_gpu_type: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> MoveDeployment:
        if self.to_pool is None and self.to_gpu_type is None:
            raise ValueError("a move needs to_pool or to_gpu_type (where to move)")
        return self

    @property
    def target(self) -> str:
        return self.deployment

    def describe(self) -> str:
        where = ", ".join(str(x) for x in (self.to_pool, self.to_gpu_type) if x is not None)
        return f"move {self.deployment} to {where}"


class ConsolidateModels(_ActionBase):
    kind: Literal["consolidate"] = "consolidate"
    sources: tuple[str, ...] = Field(min_length=1)
    into: str

    @model_validator(mode="after")
    def _distinct(self) -> ConsolidateModels:
        if self.into in self.sources:
            raise ValueError(f"into={self.into!r} is also a source; name it only as 'into'")
        return self

    @property
    def target(self) -> str:
        return self.into

    def describe(self) -> str:
        return f"consolidate {', '.join(self.sources)} into {self.into}"


class MergeAdapters(_ActionBase):
    """Serve fine-tunes (LoRA adapters) of one base model from one multi-adapter runtime:
    `into`, a deployment of that base model, loads the sources' adapters, their requests
    go to it, and their own deployments drain to zero. Each request is still answered by
    its own adapter: unlike a consolidation, no model's answers change."""

    kind: Literal["merge-adapters"] = "merge-adapters"
    base_model: str = Field(min_length=1, description="The model the adapters fine-tune.")
    sources: tuple[str, ...] = Field(
        min_length=1, max_length=64, description="The fine-tunes' deployments (namespace/name)."
    )
    into: str = Field(description="The base model's deployment that serves them all.")

    @model_validator(mode="after")
    def _distinct(self) -> MergeAdapters:
        _distinct_sources(self.sources, "into", self.into)
        return self

    @property
    def target(self) -> str:
        return self.into

    def describe(self) -> str:
        return (
            f"merge {len(self.sources)} {self.base_model} adapter(s) "
            f"({', '.join(self.sources)}) into {self.into}"
        )


class UnmergeAdapters(_ActionBase):
    """Undo a merge: `runtime` stops serving the adapters of `sources` and their requests go
    to their own deployments again. A source scaled up before (a make-before-break
    handover) keeps its replicas and serves at once; one at zero wakes on its first
    request, held while a replica starts, as for any wake. For when the merged traffic has
    outgrown what the runtime serves at its max_replicas: the premise of the merge no
    longer holds."""

    kind: Literal["unmerge-adapters"] = "unmerge-adapters"
    base_model: str = Field(min_length=1, description="The model the adapters fine-tune.")
    sources: tuple[str, ...] = Field(
        min_length=1,
        max_length=64,
        description="The merged fine-tunes' deployments (namespace/name) to serve apart again.",
    )
    runtime: str = Field(description="The base model's deployment that serves them now.")

    @model_validator(mode="after")
    def _distinct(self) -> UnmergeAdapters:
        _distinct_sources(self.sources, "runtime", self.runtime)
        return self

    @property
    def target(self) -> str:
        return self.runtime

    def describe(self) -> str:
        return (
            f"unmerge {len(self.sources)} {self.base_model} adapter(s) "
            f"({', '.join(self.sources)}) from {self.runtime}"
        )


def _distinct_sources(sources: tuple[str, ...], field: str, hub: str) -> None:
    """Each source named once, and never the deployment the action serves them from."""
    if hub in sources:
        raise ValueError(f"{field}={hub!r} is also a source; name it only as {field!r}")
    if len(set(sources)) != len(sources):
        raise ValueError("a source is named twice; name each once")


RoutingAction = ConsolidateModels | MergeAdapters
"""The actions that send other deployments' requests to `into` and scale them to zero."""
SourcedAction = ConsolidateModels | MergeAdapters | UnmergeAdapters
"""The actions that name other deployments (`sources`) besides their target."""


class RetireModel(_ActionBase):
    kind: Literal["retire"] = "retire"
    deployment: str
    delete: bool = False

    @property
    def target(self) -> str:
        return self.deployment

    def describe(self) -> str:
        return f"retire {self.deployment}" + (" (delete)" if self.delete else "")


class CordonNode(_ActionBase):
    kind: Literal["cordon"] = "cordon"
    node: str
    cordon: bool = True

    @property
    def target(self) -> str:
        return self.node

    def describe(self) -> str:
        return f"{'cordon' if self.cordon else 'uncordon'} node {self.node}"


class MoveReplica(_ActionBase):
    """Move one running replica to a named node: start a new replica there, and stop the
    old one only once the new one is Ready (never a capacity dip)."""

    kind: Literal["move-replica"] = "move-replica"
    deployment: str = Field(description="namespace/name")
    replica: str = Field(min_length=1, description="The replica id, as in the snapshot.")
    to_node: str = Field(min_length=1)

    @property
    def target(self) -> str:
        return self.deployment

    def describe(self) -> str:
        return f"move replica {self.replica} of {self.deployment} to node {self.to_node}"


Action = Annotated[
    ScaleDeployment
    | PrewarmReplicas
    | ScheduleCapacity
    | MoveDeployment
    | ConsolidateModels
    | MergeAdapters
    | UnmergeAdapters
    | RetireModel
    | CordonNode
    | MoveReplica,
    Field(discriminator="kind"),
]
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)
ActionKind = Literal[
    "scale",
    "prewarm",
    "schedule",
    "move",
    "consolidate",
    "merge-adapters",
    "unmerge-adapters",
    "retire",
    "cordon",
    "move-replica",
]
"""The `kind` of every action above: what policy rules name."""
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)


def parse_action(data: str | bytes) -> Action:
    """Parse an action from JSON; raises pydantic.ValidationError naming the bad field."""
    return ACTION_ADAPTER.validate_json(data)


class Evidence(Frozen):
    """One number or fact behind a proposal."""

    name: str
    value: float | int | str | bool
    unit: str | None = None


class Proposal(Frozen):
    action: Action
    reason: str = Field(min_length=1)
    evidence: tuple[Evidence, ...] = ()
    planner: str = "unknown"
