"""Action arguments as the model may send them, and their translation into core actions.

The model names a target and a change; the id, the issue time (the snapshot's) and the
current replica count are filled in by code. Targets must exist in the snapshot; an
unknown one is a typed error listing close matches. No field lets the model delete a
deployment, approve anything or change a limit.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import Field

from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import Pool
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


ActionArgs = Annotated[
    ScaleArgs
    | PrewarmArgs
    | MoveArgs
    | ConsolidateArgs
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
