"""A Kubernetes cluster behind the `ClusterSource` and `Executor` ports.

Observe: GPU nodes, the Deployments labelled `gpusteward.io/model` and their pods
(paginated lists), plus serving metrics from an optional `ServingMetricsSource`
(Prometheus). Act: scale through the scale subresource, move by patching the pod
template's node selector, cordon by patching the node, retire by scaling to zero and
annotating (deleting only when `allow_delete` is set). Every write carries the action id
in the `gpusteward.io/action-ids` annotation of the object it changes, and reads its
resourceVersion first (409 if someone changed it since): a retried action finds its id
and is not applied twice. Conflicts, 429, 5xx and timeouts are retried with exponential
backoff; dry-run mode sends every write with the server-side `dryRun=All`.

A scale is two writes, annotate then scale: the annotation records the id and the target
replica count, so a retry after a failure between the two completes the scale instead of
adding replicas again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import structlog

from gpusteward.adapters.kube_api import KubeApi
from gpusteward.adapters.kube_observe import (
    MODEL_LABEL,
    RETIRED,
    gpu_nodes,
    model_deployment,
    place_pods,
    pods_of,
)
from gpusteward.adapters.kube_writes import (
    ACTION_IDS,
    KubeClusterConfig,
    KubeWrites,
)
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
from gpusteward.core.cluster import (
    ClusterSnapshot,
    ModelDeployment,
    ServingMetrics,
    TokenAccounting,
)
from gpusteward.core.errors import (
    ActionRejected,
    ClusterUnavailable,
    GpustewardError,
    InputError,
    Permanent,
    Retryable,
)
from gpusteward.core.ports import Clock
from gpusteward.core.verdicts import ActionResult, ResultStatus

__all__ = ["ACTION_IDS", "KubeClusterConfig", "KubernetesCluster", "ServingMetricsSource"]
log = structlog.get_logger("gpusteward.adapters.kubernetes")
T = TypeVar("T")


class ServingMetricsSource(Protocol):
    """Per-deployment serving metrics at one instant (the Prometheus adapter)."""

    def serving_metrics(
        self, deployments: Sequence[ModelDeployment]
    ) -> dict[str, ServingMetrics]: ...


class TokenFiguresSource(Protocol):
    """Per-token figures of the deployments of a snapshot over a recent window (the
    Prometheus adapter's `PrometheusTokens`)."""

    def token_figures(self, snapshot: ClusterSnapshot) -> dict[str, TokenAccounting]: ...


class KubernetesCluster(KubeWrites):
    """`ClusterSource` + `Executor` over a `KubeApi`."""

    def __init__(
        self,
        api: KubeApi,
        clock: Clock,
        config: KubeClusterConfig | None = None,
        *,
        metrics: ServingMetricsSource | None = None,
        tokens: TokenFiguresSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api, self.clock = api, clock
        self.config = config or KubeClusterConfig()
        self.metrics, self._sleep = metrics, sleep
        self.tokens = tokens
        self.retries = 0  # how many times an operation was retried (for tests and metrics)

    # -- observe --------------------------------------------------------------------

    def snapshot(self) -> ClusterSnapshot:
        return self._retrying("observe the cluster", self._snapshot)

    def _snapshot(self) -> ClusterSnapshot:
        scopes: Sequence[str | None] = self.config.namespaces or (None,)
        kube_nodes = self.api.list_nodes()
        deps = [d for ns in scopes for d in self.api.list_deployments(ns, MODEL_LABEL)]
        pods = [p for ns in scopes for p in self.api.list_pods(ns, MODEL_LABEL)]
        holders, indices = place_pods(pods)
        nodes = gpu_nodes(kube_nodes, holders, self.config.defaults)
        memory = {g.type: g.memory_gib for n in nodes for g in n.gpus}
        models, now = [], self.clock.now()
        for dep in deps:
            try:
                mine = pods_of(dep, pods)
                models.append(
                    model_deployment(dep, mine, indices, memory, self.config.defaults, now)
                )
            except InputError as e:  # one bad object must not blind the daemon to the rest
                log.error("deployment skipped", deployment=dep.key, reason=str(e))
        deployments = tuple(sorted(models, key=lambda d: d.key))
        snap = ClusterSnapshot(
            at=now,
            nodes=nodes,
            deployments=deployments,
            metrics=self._metrics(deployments),
            interval_seconds=self.config.interval_seconds,
        )
        return self._with_tokens(snap)

    def _with_tokens(self, snap: ClusterSnapshot) -> ClusterSnapshot:
        if self.tokens is None:
            return snap
        try:
            figures = self.tokens.token_figures(snap)
        except GpustewardError as e:
            log.warning("per-token figures unavailable this tick", reason=str(e))
            return snap
        return snap.model_copy(update={"tokens": figures}) if figures else snap

    def _metrics(self, deployments: Sequence[ModelDeployment]) -> dict[str, ServingMetrics]:
        if self.metrics is None:
            return {}
        try:
            return self.metrics.serving_metrics(deployments)
        except GpustewardError as e:
            log.warning("serving metrics unavailable this tick", reason=str(e))
            return {}

    # -- act ------------------------------------------------------------------------

    def execute(self, action: Action, *, dry_run: bool = False) -> ActionResult:
        try:
            status, message = self._retrying(
                action.describe(), lambda: self._dispatch(action, dry_run)
            )
        except Permanent as e:
            status, message = ResultStatus.FAILED, f"{action.describe()}: {e}"
        log.info("kubernetes write", id=action.id, status=status.value, detail=message)
        return ActionResult(
            action_id=action.id, status=status, message=message, at=self.clock.now()
        )

    def _dispatch(self, action: Action, dry: bool) -> tuple[ResultStatus, str]:
        if isinstance(action, ScaleDeployment):
            return self._scale(action, action.deployment, lambda _: action.replicas, {}, dry)
        if isinstance(action, PrewarmReplicas):
            return self._scale(
                action, action.deployment, lambda d: d.spec.replicas + action.count, {}, dry
            )
        if isinstance(action, RetireModel):
            if action.delete:
                return self._delete(action, dry)
            return self._scale(action, action.deployment, lambda _: 0, {RETIRED: "true"}, dry)
        if isinstance(action, ScheduleCapacity):
            return self._schedule(action, dry)
        if isinstance(action, MoveDeployment):
            return self._move(action, dry)
        if isinstance(action, CordonNode):
            return self._cordon(action, dry)
        if isinstance(action, MergeAdapters):
            return self._merge(action, dry)
        if isinstance(action, UnmergeAdapters):
            return self._unmerge(action, dry)
        if isinstance(action, ConsolidateModels):
            raise ActionRejected(
                "consolidation needs a request router in front of the models; the Kubernetes "
                "backend cannot re-route traffic. Fix: retire the sources and scale the target."
            )
        if isinstance(action, MoveReplica):
            raise ActionRejected(
                "moving one replica to a chosen node is not supported by the Kubernetes "
                "backend: a Deployment's pods are interchangeable and the scheduler picks their "
                "nodes. Fix: cordon the node to empty and drain it under a PodDisruptionBudget "
                "(no capacity dip), or `move` the whole deployment (node selector)."
            )
        raise ActionRejected(f"the Kubernetes backend cannot execute {type(action).__name__}")

    # -- retries --------------------------------------------------------------------

    def _retrying(self, what: str, op: Callable[[], T]) -> T:
        """Run `op` (a whole read-modify-write), retrying `Retryable` failures with
        exponential backoff; the last failure is raised as `ClusterUnavailable`."""
        delay = self.config.backoff_seconds
        for attempt in range(1, self.config.attempts + 1):
            try:
                return op()
            except Retryable as e:
                if attempt == self.config.attempts:
                    raise ClusterUnavailable(
                        f"{what}: gave up after {attempt} attempts; last error: {e}"
                    ) from e
                log.warning("retrying", what=what, attempt=attempt, delay=delay, error=str(e))
                self.retries += 1
                self._sleep(delay)
                delay = min(delay * 2, self.config.backoff_cap_seconds)
        raise AssertionError("unreachable")
