"""The rule kinds: one check per kind, returning the values it saw when it fires.

A check returns `None` when the rule does not fire, or `Fired(values, message)`. A check
that needs a value the context lacks raises `MissingContext`; any exception makes the
engine deny (fail closed). Checks are pure functions of the spec and the context.
"""

from __future__ import annotations

from typing import Any

from gpusteward.core.actions import (
    CordonNode,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    ScheduleCapacity,
    SourcedAction,
)
from gpusteward.core.cluster import WorkloadClass
from policies.context import ActionContext
from policies.document import (
    AllowRule,
    CapacityChangeCapRule,
    ChangeFreezeRule,
    CooldownRule,
    CostBudgetRule,
    ForecastCoverRule,
    GpuBudgetRule,
    MaxStepRule,
    PoolClassRule,
    ProtectedRule,
    RateLimitRule,
    ReplicaBoundsRule,
    RetireRecentTrafficRule,
    in_window,
)
from policies.fired import Check, Fired
from policies.zoo_rules import check_adapter_merge, check_scale_to_zero

# Value, Fired and Check live in policies.fired (shared with policies.zoo_rules).


def check_allow(spec: AllowRule, ctx: ActionContext) -> Fired | None:
    return Fired({"kind": ctx.action.kind}, f"{ctx.action.kind} actions are allowed by {spec.id}")


def check_replica_bounds(spec: ReplicaBoundsRule, ctx: ActionContext) -> Fired | None:
    if not isinstance(ctx.action, ScaleDeployment | PrewarmReplicas | ScheduleCapacity):
        return None
    d = ctx.require_deployment()
    low = spec.min_replicas if spec.min_replicas is not None else d.min_replicas
    high = spec.max_replicas if spec.max_replicas is not None else d.max_replicas
    # a schedule changes nothing now: its bound is the replicas it reserves
    after = ctx.action.replicas if isinstance(ctx.action, ScheduleCapacity) else ctx.replicas_after
    if low <= after <= high:
        return None
    return Fired(
        {"replicas_after": after, "min": low, "max": high},
        f"{d.key} would have {after} replicas, outside [{low}, {high}]",
    )


def scheduled_by_a_person(ctx: ActionContext) -> bool:
    """A step up to capacity a person already approved: the deployment has a window that
    has not ended (an approved `schedule`) reserving at least the replicas it goes to."""
    d = ctx.deployment
    if d is None or ctx.replicas_after <= ctx.replicas_before:
        return False
    now = ctx.now
    return any(w.end > now and w.replicas >= ctx.replicas_after for w in d.capacity_windows)


def check_max_step(spec: MaxStepRule, ctx: ActionContext) -> Fired | None:
    if not isinstance(ctx.action, ScaleDeployment | PrewarmReplicas):
        return None
    if scheduled_by_a_person(ctx):
        return None  # the step's size was approved with the window; bounds and budgets hold
    delta = ctx.replicas_after - ctx.replicas_before
    if (spec.direction == "up" and delta <= 0) or (spec.direction == "down" and delta >= 0):
        return None
    if spec.per_action is not None and abs(delta) > spec.per_action:
        return Fired(
            {"delta": delta, "per_action": spec.per_action},
            f"a step of {delta:+d} replicas exceeds {spec.per_action} per action",
        )
    if spec.per_hour is not None:
        moved = abs(delta) + sum(
            abs(_replica_delta(a.action)) for a in ctx.recent_within(3600, same_target=True)
        )
        if moved > spec.per_hour:
            return Fired(
                {"moved_last_hour": moved, "per_hour": spec.per_hour},
                f"{moved} replicas changed on {ctx.action.target} within an hour, "
                f"limit {spec.per_hour}",
            )
    return None


def _replica_delta(action: Any) -> int:
    if isinstance(action, ScaleDeployment) and action.from_replicas is not None:
        return action.replicas - action.from_replicas
    if isinstance(action, PrewarmReplicas):
        return action.count
    return 0


def check_gpu_budget(spec: GpuBudgetRule, ctx: ActionContext) -> Fired | None:
    if ctx.gpus_delta <= 0:
        return None
    if spec.scope == "namespace" or spec.per_namespace:
        ns = ctx.namespace or ""
        budget = spec.per_namespace.get(ns, spec.max_gpus)
        if budget is not None and ctx.namespace_gpus_after(ns) > budget:
            after = ctx.namespace_gpus_after(ns)
            return Fired(
                {"namespace": ns, "gpus_after": after, "budget": budget},
                f"namespace {ns} would hold {after} GPUs, over its budget of {budget}",
            )
        if spec.scope == "namespace":
            return None
    limits = [b for b in (spec.max_gpus, _share(spec.max_share, ctx)) if b is not None]
    if not limits:
        return None
    budget = min(limits)
    if ctx.gpus_after <= budget:
        return None
    return Fired(
        {"gpus_after": ctx.gpus_after, "budget": budget, "delta": ctx.gpus_delta},
        f"{ctx.gpus_after} GPUs would be held (+{ctx.gpus_delta}), over the budget of {budget}",
    )


def _share(share: float | None, ctx: ActionContext) -> int | None:
    return None if share is None else int(share * ctx.facts.cluster_gpus)


def check_cost_budget(spec: CostBudgetRule, ctx: ActionContext) -> Fired | None:
    if ctx.cost_delta <= 0:
        return None
    ns = ctx.namespace or ""
    if spec.scope == "namespace" or ns in spec.per_namespace:
        budget = spec.per_namespace.get(ns, spec.max_usd_per_hour)
        after = ctx.namespace_cost_after(ns)
        if budget is not None and after > budget:
            return Fired(
                {"namespace": ns, "usd_per_hour_after": round(after, 2), "budget": budget},
                f"namespace {ns} would cost {after:.2f} USD/h, over its budget of {budget:.2f}",
            )
        if spec.scope == "namespace":
            return None
    if spec.max_usd_per_hour is None or ctx.cost_after <= spec.max_usd_per_hour:
        return None
    return Fired(
        {"usd_per_hour_after": round(ctx.cost_after, 2), "budget": spec.max_usd_per_hour},
        f"the cluster would cost {ctx.cost_after:.2f} USD/h, over the budget of "
        f"{spec.max_usd_per_hour:.2f}",
    )


def check_cooldown(spec: CooldownRule, ctx: ActionContext) -> Fired | None:
    window = spec.window_seconds
    mine = ctx.recent_within(window, same_target=True)
    if spec.opposite_direction_only:
        delta = ctx.replicas_after - ctx.replicas_before
        mine = [a for a in mine if _replica_delta(a.action) * delta < 0]
    if not mine:
        return None
    last = max(a.at for a in mine)
    ago = (ctx.now - last).total_seconds()
    return Fired(
        {"seconds_since_last": round(ago, 1), "cooldown_seconds": window},
        f"{ctx.action.target} was changed {ago:.0f} s ago; cooldown is {window:.0f} s",
    )


def check_rate_limit(spec: RateLimitRule, ctx: ActionContext) -> Fired | None:
    past = ctx.recent_within(spec.window_seconds, same_target=spec.scope == "target")
    if spec.scope == "namespace":
        past = [a for a in past if a.action.target.split("/")[0] == (ctx.namespace or "")]
    kinds = spec.match.actions
    count = sum(1 for a in past if not kinds or a.action.kind in kinds)
    if count < spec.max_actions:
        return None
    return Fired(
        {
            "actions_in_window": count,
            "max_actions": spec.max_actions,
            "window_seconds": spec.window_seconds,
        },
        f"{count} actions already within {spec.window_seconds:.0f} s (limit "
        f"{spec.max_actions}, scope {spec.scope})",
    )


def check_change_freeze(spec: ChangeFreezeRule, ctx: ActionContext) -> Fired | None:
    for i, window in enumerate(spec.windows):
        if in_window(window, ctx.now):
            return Fired(
                {"window": i, "now": ctx.now.isoformat()},
                f"change freeze in effect at {ctx.now:%Y-%m-%d %H:%M %Z} (window {i})",
            )
    return None


def check_protected(spec: ProtectedRule, ctx: ActionContext) -> Fired | None:
    action = ctx.action
    reasons = []
    if isinstance(action, CordonNode) and action.node in spec.nodes:
        reasons.append(f"node {action.node}")
    keys = [action.target] + (list(action.sources) if isinstance(action, SourcedAction) else [])
    for key in keys:
        dep = ctx.facts.deployments.get(key)
        if dep is None:
            continue
        if dep.namespace in spec.namespaces:
            reasons.append(f"namespace {dep.namespace}")
        if dep.model in spec.models:
            reasons.append(f"model {dep.model}")
        if dep.key in spec.deployments:
            reasons.append(f"deployment {dep.key}")
        for k, v in spec.labels.items():
            if dep.labels.get(k) == v:
                reasons.append(f"label {k}={v}")
    if isinstance(action, CordonNode):
        for ns in ctx.facts.node_tenants.get(action.node, ()):
            if ns in spec.namespaces:
                reasons.append(f"namespace {ns} on node {action.node}")
    if not reasons:
        return None
    return Fired({"protected": ", ".join(reasons)}, f"touches protected {', '.join(reasons)}")


def check_forecast_cover(spec: ForecastCoverRule, ctx: ActionContext) -> Fired | None:
    if not isinstance(ctx.action, ScaleDeployment | RetireModel):
        return None
    if ctx.replicas_after >= ctx.replicas_before:
        return None
    needed = ctx.forecast_at_lead(spec.quantile) * spec.headroom
    capacity = ctx.replicas_after * ctx.capacity_per_replica()
    if capacity >= needed:
        return None
    return Fired(
        {
            "capacity_rps_after": round(capacity, 3),
            "forecast_rps": round(needed, 3),
            "quantile": spec.quantile,
        },
        f"{ctx.replicas_after} replicas serve {capacity:.2f} req/s but the forecast's "
        f"{spec.quantile} needs {needed:.2f} req/s",
    )


def check_pool_class(spec: PoolClassRule, ctx: ActionContext) -> Fired | None:
    action = ctx.action
    if isinstance(action, MoveDeployment):
        to_pool = action.to_pool
    elif isinstance(action, MoveReplica):  # the pool of the node it moves to
        to_pool = ctx.facts.node_pool.get(action.to_node)
    else:
        return None
    if to_pool is None:
        return None
    d = ctx.require_deployment()
    to_training = to_pool in spec.training_pools
    if d.workload == WorkloadClass.TRAINING and not to_training:
        return Fired(
            {"workload": d.workload.value, "to_pool": to_pool.value},
            f"training workload {d.key} may not move off the training pools",
        )
    if d.workload == WorkloadClass.REALTIME and to_training:
        return Fired(
            {"workload": d.workload.value, "to_pool": to_pool.value},
            f"realtime inference {d.key} may not run on training pool {to_pool.value}",
        )
    return None


def check_capacity_change_cap(spec: CapacityChangeCapRule, ctx: ActionContext) -> Fired | None:
    if scheduled_by_a_person(ctx):
        return None  # a person approved this much capacity with the window
    total = ctx.facts.cluster_gpus
    touched = ctx.batch.touched_gpus + ctx.touched_gpus
    if total == 0 or touched / total <= spec.max_share:
        return None
    return Fired(
        {"gpus_touched_this_tick": touched, "cluster_gpus": total, "max_share": spec.max_share},
        f"{touched} of {total} GPUs would change this tick, over {spec.max_share:.0%}",
    )


def check_retire_recent_traffic(spec: RetireRecentTrafficRule, ctx: ActionContext) -> Fired | None:
    if not isinstance(ctx.action, RetireModel):
        return None
    peak = ctx.max_rate_within(spec.days * 86_400)
    if peak <= spec.min_rps:
        return None
    return Fired(
        {"peak_rps": round(peak, 4), "days": spec.days},
        f"{ctx.action.target} served up to {peak:.3f} req/s in the last {spec.days:g} days",
    )


CHECKS: dict[str, Check] = {
    "allow": check_allow,
    "replica-bounds": check_replica_bounds,
    "max-step": check_max_step,
    "gpu-budget": check_gpu_budget,
    "cost-budget": check_cost_budget,
    "cooldown": check_cooldown,
    "rate-limit": check_rate_limit,
    "change-freeze": check_change_freeze,
    "protected": check_protected,
    "forecast-cover": check_forecast_cover,
    "pool-class": check_pool_class,
    "capacity-change-cap": check_capacity_change_cap,
    "retire-recent-traffic": check_retire_recent_traffic,
    "scale-to-zero": check_scale_to_zero,
    "adapter-merge": check_adapter_merge,
}

# Values each kind reports: the placeholders a rule's message template may use.
VALUES: dict[str, frozenset[str]] = {
    "allow": frozenset({"kind"}),
    "replica-bounds": frozenset({"replicas_after", "min", "max"}),
    "max-step": frozenset({"delta", "per_action", "moved_last_hour", "per_hour"}),
    "gpu-budget": frozenset({"namespace", "gpus_after", "budget", "delta"}),
    "cost-budget": frozenset({"namespace", "usd_per_hour_after", "budget"}),
    "cooldown": frozenset({"seconds_since_last", "cooldown_seconds"}),
    "rate-limit": frozenset({"actions_in_window", "max_actions", "window_seconds"}),
    "change-freeze": frozenset({"window", "now"}),
    "protected": frozenset({"protected"}),
    "forecast-cover": frozenset({"capacity_rps_after", "forecast_rps", "quantile"}),
    "pool-class": frozenset({"workload", "to_pool"}),
    "capacity-change-cap": frozenset({"gpus_touched_this_tick", "cluster_gpus", "max_share"}),
    "retire-recent-traffic": frozenset({"peak_rps", "days"}),
    "scale-to-zero": frozenset({"reason", "idle_seconds", "min_idle_seconds"}),
    "adapter-merge": frozenset({"reason", "adapters_after", "peak_rps", "capacity_rps"}),
    "cel": frozenset({"expression"}),
}
COMMON_VALUES = frozenset({"target", "kind", "rule"})
