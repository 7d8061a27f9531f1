"""The facts a rule may judge by, computed by code from the snapshot, the daemon's inputs
and the earlier proposals of the same batch — never taken from the planner or the LLM.

`ClusterFacts` and `BatchState` (`policies.facts`) are computed once per `evaluate()` call
(O(cluster)); `ActionContext` once per proposal (O(1) apart from the target's own
replicas), so verdicts stay cheap on a 1,000-node cluster. The CEL activation of a
proposal (`build_context`) is built here from its context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from gpusteward.core.actions import (
    Action,
    CordonNode,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    RoutingAction,
    ScaleDeployment,
)
from gpusteward.core.cluster import (
    ModelDeployment,
    ReplicaPhase,
    ServingMetrics,
)
from gpusteward.core.load import Forecast, LoadSeries
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import ExecutedAction
from policies.cel import PreparedActivation, prepare
from policies.facts import BatchState, ClusterFacts


class MissingContext(LookupError):
    """A rule needed a value the context does not have; the engine denies (fail closed)."""


@dataclass
class ActionContext:
    """Everything known about one proposed action, in plain values."""

    action: Action
    facts: ClusterFacts
    inputs: GuardInputs
    batch: BatchState
    deployment: ModelDeployment | None
    namespace: str | None
    replicas_before: int
    replicas_after: int
    gpus_delta: int
    cost_delta: float
    touched_gpus: int
    touched_replicas: int
    tenants: tuple[str, ...]
    metrics: Mapping[str, ServingMetrics]
    _activation: dict[str, Any] | None = None
    _prepared: PreparedActivation | None = None

    # -- projections ------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.facts.at

    @property
    def gpus_after(self) -> int:
        return self.facts.held_gpus + self.batch.gpus_delta + self.gpus_delta

    def namespace_gpus_after(self, namespace: str) -> int:
        base = self.facts.namespace_gpus.get(namespace, 0)
        own = self.gpus_delta if namespace == self.namespace else 0
        return base + self.batch.namespace_gpus_delta[namespace] + own

    @property
    def cost_after(self) -> float:
        return self.facts.cost_per_hour + self.batch.cost_delta + self.cost_delta

    def namespace_cost_after(self, namespace: str) -> float:
        base = self.facts.namespace_cost.get(namespace, 0.0)
        own = self.cost_delta if namespace == self.namespace else 0.0
        return base + self.batch.namespace_cost_delta[namespace] + own

    @property
    def pool_share(self) -> float:
        pools = self.facts.deployment_pools.get(self.action.target, ())
        if isinstance(self.action, CordonNode):
            pool = self.facts.node_pool.get(self.action.node)
            pools = (pool,) if pool is not None else ()
        capacity = sum(self.facts.pool_gpus.get(p, 0) for p in pools) or self.facts.cluster_gpus
        return self.touched_gpus / capacity if capacity else 0.0

    # -- load and forecasts --------------------------------------------------------------

    def forecast(self) -> Forecast:
        key = self.action.target
        found = self.inputs.forecasts.get(key)
        if found is None:
            raise MissingContext(f"no forecast for {key}")
        return found

    def forecast_at_lead(self, quantile: str) -> float:
        """The forecast quantile at now + cold start + one tick (when new capacity lands)."""
        d = self.require_deployment()
        lead = d.cold_start_seconds + self.facts.interval_seconds
        point = self.forecast().at_or_after(lead)
        if point is None:
            raise MissingContext(f"forecast for {d.key} has no points")
        return float(getattr(point, quantile))

    def capacity_per_replica(self) -> float:
        d = self.require_deployment()
        m = self.metrics.get(d.key)
        ready = d.count(ReplicaPhase.READY)
        if m is None or ready == 0 or m.capacity_rps <= 0:
            raise MissingContext(f"no observed capacity for {d.key} (no ready replica)")
        return m.capacity_rps / ready

    def load_series(self) -> LoadSeries:
        key = self.action.target
        found = self.inputs.load.get(key)
        if found is None:
            raise MissingContext(f"no load history for {key}")
        return found

    def max_rate_within(self, seconds: float) -> float:
        series = self.load_series()
        cached = self.batch.peaks.get((series.key, seconds))
        if cached is not None:
            return cached
        points = int(seconds // series.step_seconds) + 1
        observed = [v for v in series.values[-points:] if v is not None]
        if not observed:
            raise MissingContext(f"no observed load for {series.key} in the window")
        peak = self.batch.peaks[(series.key, seconds)] = max(observed)
        return peak

    # -- recent actions ------------------------------------------------------------------

    def recent_within(self, seconds: float, *, same_target: bool = False) -> list[ExecutedAction]:
        """Executed actions in the last `seconds`, plus those allowed earlier in this batch."""
        target = self.action.target if same_target else None
        return self.batch.recent.within(self.now, seconds, target)

    def require_deployment(self) -> ModelDeployment:
        if self.deployment is None:
            raise MissingContext(f"{self.action.kind} targets {self.action.target}: no deployment")
        return self.deployment

    # -- CEL ---------------------------------------------------------------------------

    def activation(self, variables: Collection[str] = ()) -> dict[str, Any]:
        """The context as plain values for CEL: only `variables` (default: all), built once
        per proposal and on demand."""
        wanted = variables or ACTIVATION_VARIABLES
        if self._activation is None:
            self._activation = {}
        for name in wanted:
            if name not in self._activation:
                self._activation[name] = _SECTIONS[name](self)
        return self._activation

    def prepared(self, variables: Collection[str] = ()) -> PreparedActivation:
        """The activation converted for the CEL runtime once, shared by every CEL rule."""
        if self._prepared is None:
            self._prepared = prepare(self.activation(variables))
        return self._prepared


def _action_values(ctx: ActionContext) -> dict[str, Any]:
    action = ctx.action
    out: dict[str, Any] = {"kind": action.kind, "target": action.target, "id": action.id}
    for name in type(action).model_fields:
        if name in ("kind", "id", "issued_at"):
            continue
        value = getattr(action, name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _deployment_values(ctx: ActionContext) -> dict[str, Any] | None:
    d = ctx.deployment
    if d is None:
        return None
    cached = ctx.batch.deployment_values.get(d.key)
    if cached is None:
        cached = ctx.batch.deployment_values[d.key] = {
            "name": d.name,
            "namespace": d.namespace,
            "model": d.model,
            "version": d.version,
            "workload": d.workload.value,
            "replicas": d.replicas,
            "min_replicas": d.min_replicas,
            "max_replicas": d.max_replicas,
            "gpus_per_replica": d.gpus_per_replica,
            "labels": dict(d.labels),
            "cold_start_seconds": d.cold_start_seconds,
            "slo_queue_delay_seconds": d.slo.queue_delay_seconds,
            "pools": [p.value for p in ctx.facts.deployment_pools.get(d.key, ())],
        }
    return cached


def _projected_values(ctx: ActionContext) -> dict[str, Any]:
    return {
        "replicas_before": ctx.replicas_before,
        "replicas_after": ctx.replicas_after,
        "delta_replicas": ctx.replicas_after - ctx.replicas_before,
        "gpus_delta": ctx.gpus_delta,
        "gpus_after": ctx.gpus_after,
        "cluster_gpus": ctx.facts.cluster_gpus,
        "cost_per_hour_after": round(ctx.cost_after, 4),
    }


def _blast_values(ctx: ActionContext) -> dict[str, Any]:
    return {
        "gpus": ctx.touched_gpus,
        "replicas": ctx.touched_replicas,
        "pool_share": ctx.pool_share,
        "tenants": list(ctx.tenants),
    }


def _load_values(ctx: ActionContext) -> dict[str, Any]:
    d = ctx.deployment
    metrics = ctx.metrics.get(d.key) if d is not None else None
    if metrics is None:
        return {}
    return {
        "arrival_rps": metrics.arrival_rate_rps,
        "queue_depth": metrics.queue_depth,
        "gpu_utilization": metrics.gpu_utilization,
    }


def _forecast_values(ctx: ActionContext) -> dict[str, Any]:
    d = ctx.deployment
    if d is None or d.key not in ctx.inputs.forecasts:
        return {}
    try:
        return {"p50": ctx.forecast_at_lead("p50"), "p90": ctx.forecast_at_lead("p90")}
    except MissingContext:
        return {}


def _recent_values(ctx: ActionContext) -> dict[str, Any]:
    return {"actions_on_target_1h": len(ctx.recent_within(3600, same_target=True))}


def _now_values(ctx: ActionContext) -> dict[str, Any]:
    now = ctx.now
    return {"hour": now.hour, "weekday": now.isoweekday(), "iso": now.isoformat()}


_SECTIONS: dict[str, Callable[[ActionContext], Any]] = {
    "action": _action_values,
    "deployment": _deployment_values,
    "projected": _projected_values,
    "blast": _blast_values,
    "load": _load_values,
    "forecast": _forecast_values,
    "recent": _recent_values,
    "now": _now_values,
}
ACTIVATION_VARIABLES: tuple[str, ...] = tuple(_SECTIONS)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def referenced_variables(expressions: Iterable[str]) -> tuple[str, ...]:
    """The activation variables some expression names (string literals may over-count,
    which only costs time)."""
    used = {m.group(0) for e in expressions for m in _IDENTIFIER.finditer(e)}
    return tuple(v for v in ACTIVATION_VARIABLES if v in used)


def _replica_gpus(deployment: ModelDeployment | None, replica: str) -> int:
    """The GPUs a replica holds (its deployment's per-replica count when not placed)."""
    if deployment is None:
        return 0
    found = next((r for r in deployment.replica_states if r.id == replica), None)
    if found is not None and found.gpu_indices:
        return len(found.gpu_indices)
    return deployment.gpus_per_replica


def build_context(
    action: Action,
    facts: ClusterFacts,
    inputs: GuardInputs,
    batch: BatchState,
    metrics: Mapping[str, ServingMetrics],
) -> ActionContext:
    """Project the action onto the cluster as it stands after the batch so far."""
    target = facts.deployments.get(action.target)
    replicas_now = batch.replicas.get(target.key, target.replicas) if target is not None else 0
    after, gpus_delta, touched_replicas = replicas_now, 0, 0
    tenants: tuple[str, ...] = ()
    namespace = target.namespace if target is not None else None
    if target is not None:
        tenants = (target.namespace,)
    per = target.gpus_per_replica if target is not None else 0
    cost_delta = 0.0
    if isinstance(action, ScaleDeployment | PrewarmReplicas | RetireModel) and target:
        after = (
            action.replicas
            if isinstance(action, ScaleDeployment)
            else replicas_now + action.count
            if isinstance(action, PrewarmReplicas)
            else 0
        )
        gpus_delta = (after - replicas_now) * per
        touched_replicas = abs(after - replicas_now)
        cost_delta = gpus_delta * facts.price.get(target.key, 0.0)
    elif isinstance(action, MoveDeployment) and target:
        touched_replicas = replicas_now
    elif isinstance(action, RoutingAction):
        sources = [facts.deployments[s] for s in action.sources if s in facts.deployments]
        freed = [batch.replicas.get(s.key, s.replicas) * s.gpus_per_replica for s in sources]
        gpus_delta = -sum(freed)
        cost_delta = -sum(
            f * facts.price.get(s.key, 0.0) for f, s in zip(freed, sources, strict=True)
        )
        touched_replicas = sum(batch.replicas.get(s.key, s.replicas) for s in sources)
        tenants = tuple(sorted({s.namespace for s in sources} | set(tenants)))
    elif isinstance(action, CordonNode):
        tenants = facts.node_tenants.get(action.node, ())
    elif isinstance(action, MoveReplica) and target:
        touched_replicas = 1
    if isinstance(action, CordonNode):
        touched = facts.node_gpus_held.get(action.node, 0)
    elif isinstance(action, MoveDeployment):
        touched = touched_replicas * per
    elif isinstance(action, MoveReplica):
        touched = _replica_gpus(target, action.replica)
    else:
        touched = abs(gpus_delta)
    return ActionContext(
        action=action,
        facts=facts,
        inputs=inputs,
        batch=batch,
        deployment=target,
        namespace=namespace,
        replicas_before=replicas_now,
        replicas_after=after,
        gpus_delta=gpus_delta,
        cost_delta=cost_delta,
        touched_gpus=touched,
        touched_replicas=touched_replicas,
        tenants=tenants,
        metrics=metrics,
    )
