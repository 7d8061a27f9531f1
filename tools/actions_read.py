"""Action tools that read: what was done recently, what the deterministic planner would
do this tick, and what given actions would do (the simulator's what-if). They are about
actions, where `tools.read` is about the cluster's state; none changes anything.
"""

from __future__ import annotations

from pydantic import Field

from gpusteward.core.actions import Action
from gpusteward.core.verdicts import ResultStatus
from tools.actions import ActionArgs, build_action
from tools.base import ToolArgs, ToolResult, ToolRow, Unavailable
from tools.context import ToolContext, WhatIfProjection
from tools.text import clean

__all__ = [
    "RecentArgs",
    "RecentResult",
    "RecommendationResult",
    "WhatIfArgs",
    "WhatIfResult",
    "recent_actions",
    "recommendation",
    "what_if",
]


# -- recent_actions ----------------------------------------------------------------


class RecentArgs(ToolArgs):
    limit: int = Field(default=20, ge=1, le=50)
    deployment: str | None = Field(default=None, max_length=300)


class RecentAction(ToolRow):
    action_id: str
    action: str
    at: str
    status: str


class RecentResult(ToolResult):
    actions: tuple[RecentAction, ...]


def recent_actions(args: RecentArgs, ctx: ToolContext) -> RecentResult:
    chosen = [
        r
        for r in ctx.inputs.recent
        if args.deployment is None or r.action.target == args.deployment
    ]
    return RecentResult(
        actions=tuple(
            RecentAction(
                action_id=r.action.id,
                action=clean(r.action.describe(), 300),
                at=r.at.isoformat(),
                status=ResultStatus(r.status).value,
            )
            for r in chosen[-args.limit :]
        )
    )


# -- recommendation ----------------------------------------------------------------


class RecommendedAction(ToolRow):
    action: str
    kind: str
    reason: str


class RecommendationResult(ToolResult):
    planner: str
    proposals: tuple[RecommendedAction, ...]


def recommendation(args: ToolArgs, ctx: ToolContext) -> RecommendationResult:
    return RecommendationResult(
        planner=ctx.recommender,
        proposals=tuple(
            RecommendedAction(
                action=clean(p.action.describe(), 300),
                kind=p.action.kind,
                reason=clean(p.reason, 400),
            )
            for p in ctx.recommendation[:40]
        ),
    )


# -- what_if -----------------------------------------------------------------------


class WhatIfArgs(ToolArgs):
    actions: tuple[ActionArgs, ...] = Field(min_length=1, max_length=10)
    horizon_minutes: int | None = Field(
        default=None, ge=1, le=240, description="Default: the forecast horizon."
    )


class WhatIfResult(ToolResult):
    projection: WhatIfProjection


def what_if(args: WhatIfArgs, ctx: ToolContext) -> WhatIfResult:
    if ctx.whatif is None:
        raise Unavailable(
            "what-if needs a simulator model of the cluster; none is wired for this backend"
        )
    actions: list[Action] = [
        build_action(a, ctx, f"actions.{i}") for i, a in enumerate(args.actions)
    ]
    horizon = args.horizon_minutes * 60.0 if args.horizon_minutes else ctx.horizon_seconds
    return WhatIfResult(projection=ctx.whatif.project(actions, horizon))
