"""Rule checks for the model zoo: when a model may go to zero replicas, when LoRA
fine-tunes may be merged into their base model's runtime, and when a merge may be undone.
Pure, like every check."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpusteward.core.actions import MergeAdapters, ScaleDeployment, UnmergeAdapters
from gpusteward.core.cluster import ReplicaPhase
from policies.context import ActionContext, MissingContext
from policies.document import AdapterMergeRule, ScaleToZeroRule, selects
from policies.fired import Fired, Value


def check_scale_to_zero(spec: ScaleToZeroRule, ctx: ActionContext) -> Fired | None:
    action = ctx.action
    if not isinstance(action, ScaleDeployment) or action.replicas != 0:
        return None
    if ctx.replicas_before == 0:
        return None  # already at zero: nothing goes
    d = ctx.require_deployment()
    if spec.allowed is not None and not selects(spec.allowed, d):
        return Fired(
            {"reason": "not-allowed", "idle_seconds": None, "min_idle_seconds": None},
            f"{d.key} is not among the models this policy lets go to zero",
        )
    if spec.min_idle_seconds is not None:
        idle = idle_seconds(ctx)
        if idle < spec.min_idle_seconds:
            return Fired(
                {
                    "reason": "too-soon",
                    "idle_seconds": round(idle),
                    "min_idle_seconds": spec.min_idle_seconds,
                },
                f"{d.key} has been idle {idle:.0f} s, under the {spec.min_idle_seconds:.0f} s "
                "a model must be idle before it goes to zero",
            )
    if spec.allowed is None and spec.min_idle_seconds is None:
        return Fired(
            {"reason": "to-zero", "idle_seconds": None, "min_idle_seconds": None},
            f"{d.key} would go to zero replicas",
        )
    return None


BASE_MODEL_LABEL = "gpusteward.io/base-model"  # a fine-tune names the model it adapts


def _merge_fired(reason: str, message: str, **values: Value) -> Fired:
    base: dict[str, Value] = {"adapters_after": None, "peak_rps": None, "capacity_rps": None}
    return Fired({**base, **values, "reason": reason}, message)


def check_adapter_merge(spec: AdapterMergeRule, ctx: ActionContext) -> Fired | None:
    action = ctx.action
    if isinstance(action, UnmergeAdapters):
        return check_adapter_unmerge(spec, ctx, action)
    if not isinstance(action, MergeAdapters):
        return None
    d = ctx.require_deployment()
    base = action.base_model
    sources = [ctx.facts.deployments[s] for s in action.sources if s in ctx.facts.deployments]
    strangers = [
        s.key for s in sources if s.labels.get(BASE_MODEL_LABEL) != base or s.model != base
    ]
    if d.model != base or strangers:
        what = ", ".join(strangers) if strangers else f"{d.key} (model {d.model})"
        return _merge_fired(
            "other-model",
            f"{what} is not a fine-tune of {base}: only one base model's adapters share a runtime",
        )
    stricter = [s.key for s in sources if s.slo.queue_delay_seconds < d.slo.queue_delay_seconds]
    if stricter:
        return _merge_fired(
            "stricter-slo",
            f"{', '.join(stricter)} promise(s) a stricter SLO than {d.key} "
            f"({d.slo.queue_delay_seconds:g} s); their requests would be judged by its SLO",
        )
    if d.replicas == 0:
        return _merge_fired("not-serving", f"{d.key} is at zero replicas; it must be serving")
    after = len(set(d.adapters) | {a for s in sources for a in (*s.adapters, s.key)})
    if after > spec.max_adapters:
        return _merge_fired(
            "too-many",
            f"{d.key} would serve {after} adapters, over {spec.max_adapters}",
            adapters_after=after,
        )
    peak = combined_peak(ctx, [d.key, *action.sources], spec.window_seconds)
    capacity = ctx.capacity_per_replica() * d.max_replicas
    if peak <= spec.max_share * capacity:
        return None
    return _merge_fired(
        "does-not-fit",
        f"together they peaked at {peak:.2f} req/s; {d.key} serves {capacity:.2f} req/s at "
        f"its {d.max_replicas} replicas, and {spec.max_share:.0%} of that is the limit",
        adapters_after=after,
        peak_rps=round(peak, 3),
        capacity_rps=round(capacity, 3),
    )


def check_adapter_unmerge(
    spec: AdapterMergeRule, ctx: ActionContext, action: UnmergeAdapters
) -> Fired | None:
    """An unmerge takes off adapters the runtime serves, once its traffic (its own and its
    adapters') has stayed past `max_share` of what it serves at its max_replicas (the limit
    a merge is judged by) for a wake lead of the adapters: see `sustained_rate`. Or at any
    rate when each of them has a Ready replica of its own (a make-before-break handover:
    their GPUs are held already, and none of their requests waits for a cold start)."""
    d = ctx.require_deployment()
    strangers = [s for s in action.sources if s not in d.adapters]
    if strangers:
        return _merge_fired(
            "not-merged",
            f"{d.key} does not serve {', '.join(strangers)} as adapters; only a merged "
            "adapter can be unmerged",
        )
    sources = [ctx.facts.deployments[s] for s in action.sources if s in ctx.facts.deployments]
    if sources and all(s.count(ReplicaPhase.READY) > 0 for s in sources):
        return None  # a handover: each already serves on its own, no request waits for it
    lead = max((s.cold_start_seconds for s in sources), default=0.0) + ctx.facts.interval_seconds
    series = ctx.load_series()
    rate = sustained_rate([v or 0.0 for v in series.values], lead, series.step_seconds)
    capacity = ctx.capacity_per_replica() * d.max_replicas
    if rate > spec.max_share * capacity:
        return None
    return _merge_fired(
        "still-fits",
        f"{d.key} received {rate:.2f} req/s over the last {lead:.0f} s with its "
        f"{len(d.adapters)} adapters, within {spec.max_share:.0%} of the {capacity:.2f} req/s "
        f"it serves at its {d.max_replicas} replicas: the merge still fits",
        adapters_after=len(d.adapters) - len(action.sources),
        peak_rps=round(rate, 3),
        capacity_rps=round(capacity, 3),
    )


def sustained_rate(rates: Sequence[float], lead_seconds: float, step_seconds: float) -> float:
    """The mean of the last `lead_seconds` of `rates` (one per `step_seconds`, newest last):
    what a merged runtime's traffic must pass before its adapters come off. The lead is
    the adapters' cold start plus one tick: a burst shorter than that is over before their
    own deployments could serve a request, and the runtime's queue takes it either way."""
    points = max(1, math.ceil(lead_seconds / step_seconds - 1e-9))
    tail = rates[-points:]
    return sum(tail) / len(tail) if tail else 0.0


def combined_peak(ctx: ActionContext, keys: list[str], seconds: float) -> float:
    """The highest summed request rate of `keys` at any point of the last `seconds` of
    the load history (a point missing for one of them counts as 0 for it). The window is
    (now - seconds, now], as the adapter-merge planner's: a point exactly `seconds` old is
    out of both, or the guard denies, for one tick, a merge the planner saw fit."""
    points = max(1, math.ceil(seconds / ctx.facts.interval_seconds - 1e-9))
    total: list[float] = []
    for key in keys:
        series = ctx.inputs.load.get(key)
        if series is None:
            raise MissingContext(f"no load history for {key}")
        tail = [v or 0.0 for v in series.values[-points:]]
        if len(tail) > len(total):
            total = [0.0] * (len(tail) - len(total)) + total
        for i, v in enumerate(tail, start=len(total) - len(tail)):
            total[i] += v
    if not total:
        raise MissingContext(f"no observed load for {', '.join(keys)}")
    return max(total)


def idle_seconds(ctx: ActionContext) -> float:
    """How long the target has had no request: its load history's trailing zeros (a
    missing point ends the count: no data is not idle time), 0 while requests wait or
    run now."""
    m = ctx.metrics.get(ctx.action.target)
    if m is not None and (m.queue_depth > 0 or m.running > 0 or m.arrival_rate_rps > 0):
        return 0.0
    series = ctx.load_series()
    zeros = 0
    for v in reversed(series.values):
        if v is None or v != 0:
            break
        zeros += 1
    return zeros * series.step_seconds
