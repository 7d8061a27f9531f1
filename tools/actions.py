"""Action arguments as the model may send them, and their translation into core actions.

The model names a target and a change; the id, the issue time (the snapshot's) and the
current replica count are filled in by code. Targets must exist in the snapshot; an
unknown one is a typed error listing close matches. No field lets the model delete a
deployment, approve anything or change a limit.
"""

from __future__ import annotations

import difflib
import math
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    CordonNode,
    MergeAdapters,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    ScheduleCapacity,
    UnmergeAdapters,
)
from gpusteward.core.cluster import Pool, ReplicaPhase
from gpusteward.core.load import LoadSeries
from gpusteward.core.windows import SIZING_UTILISATION
from tools.base import InvalidArgument, ToolArgs
from tools.context import ToolContext

Key = Annotated[str, Field(min_length=1, max_length=300, description="namespace/name")]


class ScaleArgs(ToolArgs):
    kind: Literal["scale"] = "scale"
    deployment: Key
    replicas: int = Field(ge=0, le=10_000, description="Desired replicas.")


class PrewarmArgs(ToolArgs):
    kind: Literal["prewarm"] = "prewarm"
    deployment: Key
    count: int = Field(ge=1, le=64, description="Extra replicas to start ahead of load.")


class MoveArgs(ToolArgs):
    kind: Literal["move"] = "move"
    deployment: Key
    to_pool: Pool | None = None
    to_gpu_type: str | None = Field(default=None, max_length=64)


class ConsolidateArgs(ToolArgs):
    kind: Literal["consolidate"] = "consolidate"
    sources: tuple[Key, ...] = Field(min_length=1, max_length=10)
    into: Key


class MergeAdaptersArgs(ToolArgs):
    """Serve fine-tunes (LoRA adapters) of one base model from its runtime `into`."""

    kind: Literal["merge-adapters"] = "merge-adapters"
    sources: tuple[Key, ...] = Field(min_length=1, max_length=16)
    into: Key


class UnmergeAdaptersArgs(ToolArgs):
    """Serve merged fine-tunes apart again: `runtime` stops serving their adapters."""

    kind: Literal["unmerge-adapters"] = "unmerge-adapters"
    sources: tuple[Key, ...] = Field(min_length=1, max_length=64)
    runtime: Key


class RetireArgs(ToolArgs):
    kind: Literal["retire"] = "retire"
    deployment: Key


class CordonArgs(ToolArgs):
    kind: Literal["cordon"] = "cordon"
    node: str = Field(min_length=1, max_length=300)
    cordon: bool = Field(default=True, description="false = uncordon")


class MoveReplicaArgs(ToolArgs):
    kind: Literal["move-replica"] = "move-replica"
    deployment: Key
    replica: str = Field(min_length=1, max_length=300, description="Replica id (snapshot).")
    to_node: str = Field(min_length=1, max_length=300)


class ScheduleArgs(ToolArgs):
    """Capacity for an announced event (an operator's note): Ready by `start`, kept for
    `hours`. Size it by `load_multiplier` (code computes the replicas from the load at that
    time a day earlier) or give `replicas`."""

    kind: Literal["schedule"] = "schedule"
    deployment: Key
    start: AwareDatetime = Field(description="Event start, ISO 8601 with zone (…Z for UTC).")
    hours: float = Field(gt=0, le=24, description="How long the event lasts.")
    load_multiplier: float | None = Field(
        default=None, gt=1, le=20, description="Expected traffic as a multiple of normal."
    )
    replicas: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_size(self) -> ScheduleArgs:
        if (self.load_multiplier is None) == (self.replicas is None):
            raise ValueError("give exactly one of load_multiplier and replicas")
        return self


ActionArgs = Annotated[
    ScaleArgs
    | PrewarmArgs
    | ScheduleArgs
    | MoveArgs
    | ConsolidateArgs
    | MergeAdaptersArgs
    | UnmergeAdaptersArgs
    | RetireArgs
    | CordonArgs
    | MoveReplicaArgs,
    Field(discriminator="kind"),
]


def _node_name(ctx: ToolContext, name: str, field: str) -> str:
    if ctx.snapshot.node(name) is None:
        names = [n.name for n in ctx.snapshot.nodes]
        close = difflib.get_close_matches(name, names, n=8, cutoff=0.3)
        raise InvalidArgument(field, "no such node", name, close)
    return name


def _deployment_key(ctx: ToolContext, key: str, field: str) -> str:
    d = ctx.snapshot.deployment(key)
    if d is None:
        keys = [x.key for x in ctx.snapshot.deployments]
        close = difflib.get_close_matches(key, keys, n=8, cutoff=0.3) or keys[:8]
        raise InvalidArgument(field, "no such deployment (namespace/name)", key, close)
    return d.key


def build_action(args: ToolArgs, ctx: ToolContext, field: str = "") -> Action:
    """The core action for `args` at the snapshot's time; unknown targets are typed errors."""
    at = ctx.snapshot.at
    prefix = f"{field}." if field else ""
    try:
        if isinstance(args, ScaleArgs):
            key = _deployment_key(ctx, args.deployment, prefix + "deployment")
            d = ctx.snapshot.deployment(key)
            return ScaleDeployment(
                deployment=key,
                replicas=args.replicas,
                from_replicas=d.replicas if d else None,
                issued_at=at,
            )
        if isinstance(args, PrewarmArgs):
            key = _deployment_key(ctx, args.deployment, prefix + "deployment")
            return PrewarmReplicas(deployment=key, count=args.count, issued_at=at)
        if isinstance(args, ScheduleArgs):
            return schedule_action(args, ctx, prefix)
        if isinstance(args, MoveArgs):
            key = _deployment_key(ctx, args.deployment, prefix + "deployment")
            return MoveDeployment(
                deployment=key, to_pool=args.to_pool, to_gpu_type=args.to_gpu_type, issued_at=at
            )
        if isinstance(args, ConsolidateArgs):
            sources = tuple(
                _deployment_key(ctx, s, f"{prefix}sources.{i}") for i, s in enumerate(args.sources)
            )
            into = _deployment_key(ctx, args.into, prefix + "into")
            return ConsolidateModels(sources=sources, into=into, issued_at=at)
        if isinstance(args, MergeAdaptersArgs):
            sources = tuple(
                _deployment_key(ctx, s, f"{prefix}sources.{i}") for i, s in enumerate(args.sources)
            )
            into = _deployment_key(ctx, args.into, prefix + "into")
            base = ctx.snapshot.deployment(into)
            assert base is not None
            return MergeAdapters(base_model=base.model, sources=sources, into=into, issued_at=at)
        if isinstance(args, UnmergeAdaptersArgs):
            return _unmerge(args, ctx, prefix)
        if isinstance(args, RetireArgs):
            key = _deployment_key(ctx, args.deployment, prefix + "deployment")
            return RetireModel(deployment=key, delete=False, issued_at=at)
        if isinstance(args, CordonArgs):
            node = _node_name(ctx, args.node, prefix + "node")
            return CordonNode(node=node, cordon=args.cordon, issued_at=at)
        if isinstance(args, MoveReplicaArgs):
            key = _deployment_key(ctx, args.deployment, prefix + "deployment")
            d = ctx.snapshot.deployment(key)
            ids = [r.id for r in d.replica_states] if d is not None else []
            if args.replica not in ids:
                close = difflib.get_close_matches(args.replica, ids, n=8, cutoff=0.3) or ids[:8]
                raise InvalidArgument(prefix + "replica", "no such replica", args.replica, close)
            node = _node_name(ctx, args.to_node, prefix + "to_node")
            return MoveReplica(deployment=key, replica=args.replica, to_node=node, issued_at=at)
    except ValueError as e:  # a core validator (e.g. a move with nowhere to go)
        raise InvalidArgument(field or "(arguments)", str(e), type(args).__name__) from None
    raise InvalidArgument(field or "kind", "unknown action", type(args).__name__)


def _unmerge(args: UnmergeAdaptersArgs, ctx: ToolContext, prefix: str) -> UnmergeAdapters:
    runtime = _deployment_key(ctx, args.runtime, prefix + "runtime")
    merged = [d.key for d in ctx.snapshot.deployments if d.routed_to == runtime]
    sources = []
    for i, s in enumerate(args.sources):
        key = _deployment_key(ctx, s, f"{prefix}sources.{i}")
        if key not in merged:
            raise InvalidArgument(
                f"{prefix}sources.{i}", f"not merged into {runtime}", s, merged[:8]
            )
        sources.append(key)
    base = ctx.snapshot.deployment(runtime)
    assert base is not None
    return UnmergeAdapters(
        base_model=base.model, sources=tuple(sources), runtime=runtime, issued_at=ctx.snapshot.at
    )


MAX_LEAD = timedelta(days=7)


def schedule_action(args: ScheduleArgs, ctx: ToolContext, prefix: str = "") -> ScheduleCapacity:
    """A `ScheduleCapacity` for `args`: the window checked against the snapshot's time, the
    replicas sized by code, the operator's note (the deployment's intent) attached."""
    key = _deployment_key(ctx, args.deployment, prefix + "deployment")
    d = ctx.snapshot.deployment(key)
    assert d is not None
    at = ctx.snapshot.at
    if not at < args.start <= at + MAX_LEAD:
        raise InvalidArgument(
            prefix + "start",
            f"must be after now ({at.isoformat()}) and within 7 days",
            args.start.isoformat(),
        )
    end = args.start + timedelta(hours=args.hours)
    replicas = args.replicas
    if replicas is None:
        assert args.load_multiplier is not None
        m = ctx.snapshot.metrics.get(key)
        ready = d.count(ReplicaPhase.READY)
        if m is None or ready == 0 or m.capacity_rps <= 0:
            raise InvalidArgument(
                prefix + "load_multiplier",
                "no ready replica's capacity is measured to size it by; give replicas",
                str(args.load_multiplier),
            )
        normal = normal_load(ctx.inputs.load.get(key), args.start, end, m.arrival_rate_rps)
        per_replica = m.capacity_rps / ready * SIZING_UTILISATION
        replicas = math.ceil(args.load_multiplier * normal / per_replica)
    replicas = max(1, min(replicas, d.max_replicas))
    return ScheduleCapacity(
        deployment=key,
        replicas=replicas,
        start=args.start,
        end=end,
        load_multiplier=args.load_multiplier,
        note=(d.intent or "")[:500],
        issued_at=at,
    )


def normal_load(series: LoadSeries | None, start: datetime, end: datetime, now: float) -> float:
    """The usual rate for [start, end): the 90th percentile of the same hours a day earlier
    (or of the last day, when that is not in the history); `now` when there is no history."""
    if series is None:
        return now
    day = timedelta(days=1)

    def between(lo: datetime, hi: datetime) -> list[float]:
        out = []
        for i, v in enumerate(series.values):
            t = series.start + timedelta(seconds=series.step_seconds * i)
            if v is not None and lo <= t < hi:
                out.append(v)
        return out

    values = between(start - day, end - day) or between(series.end - day, series.end)
    if not values:
        return now
    values.sort()
    return values[min(len(values) - 1, int(0.9 * len(values)))]
