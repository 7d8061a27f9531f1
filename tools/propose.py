"""Proposal tools: the only way the model can ask for a change. Each builds a typed action,
attaches evidence computed by code (never by the model), and returns the exact verdict
the guard will give it. Nothing runs here: allowed proposals are executed by the daemon
after the model's turn, approvals wait for a human, denials are dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field, create_model

from gpusteward.core.actions import Action, Evidence, Proposal, ScheduleCapacity
from gpusteward.core.cluster import ReplicaPhase
from gpusteward.core.verdicts import Deny, NeedsApproval
from tools.actions import (
    ConsolidateArgs,
    CordonArgs,
    MergeAdaptersArgs,
    MoveArgs,
    MoveReplicaArgs,
    PrewarmArgs,
    RetireArgs,
    ScaleArgs,
    ScheduleArgs,
    UnmergeAdaptersArgs,
    build_action,
)
from tools.base import Tool, ToolArgs, ToolResult, ToolRow, Unavailable
from tools.context import ToolContext
from tools.text import clean

Rationale = Field(
    min_length=1, max_length=800, description="Why, in plain language, citing the numbers."
)


class ProposeHold(ToolArgs):
    deployment: str = Field(min_length=1, max_length=300, description="namespace/name")
    rationale: str = Rationale


class HoldResult(ToolResult):
    deployment: str
    held: bool = Field(description="true: recorded as your decision to leave it unchanged.")
    note: str


class RuleReason(ToolRow):
    rule: str
    reason: str


class ProposalVerdict(ToolResult):
    action_id: str
    action: str
    decision: str = Field(
        description="allow: runs this tick; needs_approval: waits for a human; deny: will not run."
    )
    rules: tuple[RuleReason, ...]
    approver_group: str | None = None


def evidence(action: Action, ctx: ToolContext) -> tuple[Evidence, ...]:
    """The numbers behind a proposal, read from the snapshot and forecasts."""
    d = ctx.snapshot.deployment(action.target)
    if d is None:
        node = ctx.snapshot.node(action.target)
        if node is None:
            return ()
        return (
            Evidence(name="node_free_gpus", value=node.free_gpus()),
            Evidence(name="node_gpus", value=len(node.gpus)),
            Evidence(
                name="node_unhealthy_gpus",
                value=sum(1 for g in node.gpus if g.health.value != "healthy"),
            ),
        )
    out = [
        Evidence(name="replicas", value=d.replicas),
        Evidence(name="ready_replicas", value=d.count(ReplicaPhase.READY)),
    ]
    m = ctx.snapshot.metrics.get(d.key)
    if m is not None:
        out += [
            Evidence(name="arrival_rate", value=round(m.arrival_rate_rps, 3), unit="req/s"),
            Evidence(name="capacity", value=round(m.capacity_rps, 3), unit="req/s"),
            Evidence(name="gpu_utilization", value=round(m.gpu_utilization, 4)),
            Evidence(name="queue_depth", value=m.queue_depth, unit="requests"),
        ]
        if m.slo_attainment is not None:
            out.append(Evidence(name="slo_attainment", value=round(m.slo_attainment, 4)))
    f = ctx.inputs.forecasts.get(d.key)
    point = f.at_or_after(d.cold_start_seconds) if f is not None else None
    if point is not None:
        out.append(
            Evidence(name="forecast_p90_at_cold_start", value=round(point.p90, 3), unit="req/s")
        )
    if isinstance(action, ScheduleCapacity) and action.note:  # the approver reads the words
        out.append(Evidence(name="operator_note", value=clean(action.note, 500)))
    return tuple(out)


def _propose(args: ToolArgs, rationale: str, ctx: ToolContext) -> ProposalVerdict:
    if len(ctx.proposals) >= ctx.max_proposals:
        raise Unavailable(
            f"this tick already has {ctx.max_proposals} proposals (the per-tick limit); "
            "finish your turn"
        )
    action = build_action(args, ctx)
    for n, earlier in enumerate(ctx.proposals):
        if earlier.action.kind != action.kind or earlier.action.target != action.target:
            continue
        if not isinstance(ctx.verdicts[n], Deny):
            raise Unavailable(
                f"a {action.kind} of {clean(action.target)} was already proposed this tick "
                f"({earlier.action.id}); one proposal per kind and target"
            )
        del ctx.proposals[n], ctx.verdicts[n]  # a revision of a denied proposal replaces it
        break
    proposal = Proposal(
        action=action,
        reason=clean(rationale, 800),
        evidence=evidence(action, ctx),
        planner=ctx.planner_name,
    )
    verdict = ctx.judge(proposal)
    ctx.proposals.append(proposal)
    ctx.verdicts.append(verdict)
    return ProposalVerdict(
        action_id=action.id,
        action=clean(action.describe(), 300),
        decision=verdict.decision,
        rules=tuple(RuleReason(rule=h.rule, reason=clean(h.reason, 300)) for h in verdict.rules),
        approver_group=verdict.approver_group if isinstance(verdict, NeedsApproval) else None,
    )


def _tool(name: str, description: str, args: type[ToolArgs]) -> Tool[ToolArgs]:
    """A proposal tool: the action's arguments `args` (`tools.actions`) plus the model's
    rationale, which becomes the proposal's reason."""
    with_rationale: type[ToolArgs] = create_model(
        "Propose" + args.__name__.removesuffix("Args"),
        __base__=args,
        __module__=__name__,
        rationale=(str, Rationale),
    )

    def run(a: ToolArgs, ctx: ToolContext) -> ProposalVerdict:
        return _propose(a, str(getattr(a, "rationale", "")), ctx)

    runner: Callable[[ToolArgs, ToolContext], ToolResult] = run
    return Tool(name, description, with_rationale, runner, kind="propose")


def hold(args: ProposeHold, ctx: ToolContext) -> HoldResult:
    """Record the model's decision that `deployment` needs no change this tick: an opinion,
    not an action (nothing is built or judged). Under the SLO floor a held deployment
    keeps its replicas unless the live load needs more."""
    d = ctx.snapshot.deployment(args.deployment)
    if d is None:
        raise Unavailable(
            f"no deployment {clean(args.deployment)!r} in this snapshot; hold one listed in "
            "the data (namespace/name)"
        )
    if d.key not in ctx.holds:
        ctx.holds.append(d.key)
    return HoldResult(
        deployment=d.key,
        held=True,
        note=f"{d.key} stays at {d.replicas} replica(s) unless the SLO floor needs more",
    )


PROPOSAL_TOOLS: tuple[Tool[ToolArgs], ...] = (
    _tool("propose_scale", "Propose setting a deployment's replica count.", ScaleArgs),
    _tool(
        "propose_prewarm",
        "Propose starting extra replicas ahead of forecast load.",
        PrewarmArgs,
    ),
    _tool(
        "propose_schedule",
        "Propose capacity for an event an operator announced (an operator_notes row): replicas "
        "Ready by `start` for `hours`, sized by `load_multiplier` or `replicas`. It always "
        "waits for a person's approval; the planners start the replicas one cold start ahead.",
        ScheduleArgs,
    ),
    _tool(
        "propose_move",
        "Propose moving a deployment to another pool or GPU type.",
        MoveArgs,
    ),
    _tool(
        "propose_consolidate",
        "Propose serving the source deployments' traffic from `into`, retiring the sources.",
        ConsolidateArgs,
    ),
    _tool(
        "propose_merge_adapters",
        "Propose serving LoRA fine-tunes of one base model from that model's running "
        "deployment `into` (one multi-adapter runtime); each request keeps its own adapter, "
        "the sources drain to zero. Only when their combined traffic fits `into`.",
        MergeAdaptersArgs,
    ),
    _tool(
        "propose_unmerge_adapters",
        "Propose serving merged fine-tunes (`sources`, each routed to `runtime`) apart again: "
        "their deployments start from zero and `runtime` stops serving their adapters. When "
        "the merged traffic has outgrown what `runtime` serves at its max_replicas.",
        UnmergeAdaptersArgs,
    ),
    _tool(
        "propose_retire",
        "Propose retiring an unused deployment (scale to zero; never deletes).",
        RetireArgs,
    ),
    _tool("propose_cordon", "Propose cordoning (or uncordoning) a node.", CordonArgs),
    _tool(
        "propose_move_replica",
        "Propose moving one replica to a node (new one starts first; old stops when ready).",
        MoveReplicaArgs,
    ),
    Tool(
        "propose_hold",
        "Say that a deployment needs no change this tick (no action; your rationale is kept).",
        ProposeHold,
        hold,  # type: ignore[arg-type]
        kind="propose",
    ),
)
