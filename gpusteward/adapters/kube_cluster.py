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
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import structlog

from gpusteward.adapters.kube_api import ApiNotFound, KubeApi, MergePatch
from gpusteward.adapters.kube_objects import KubeDeployment
from gpusteward.adapters.kube_observe import (
    GPU_PRODUCT,
    MODEL_LABEL,
    POOL_LABEL,
    PREFIX,
    RETIRED,
    WINDOW_LIST,
    WINDOWS,
    ObserveDefaults,
    capacity_windows,
    gpu_nodes,
    model_deployment,
    place_pods,
    pods_of,
)
from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    MoveReplica,
    PrewarmReplicas,
    RetireModel,
    ScaleDeployment,
    ScheduleCapacity,
)
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, ServingMetrics
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

log = structlog.get_logger("gpusteward.adapters.kubernetes")
T = TypeVar("T")
ACTION_IDS = PREFIX + "action-ids"  # space-separated, newest last
ACTION_REPLICAS = PREFIX + "action-replicas"  # target of the newest scale-type action
KEEP_IDS = 16


class ServingMetricsSource(Protocol):
    """Per-deployment serving metrics at one instant (the Prometheus adapter)."""

    def serving_metrics(
        self, deployments: Sequence[ModelDeployment]
    ) -> dict[str, ServingMetrics]: ...


@dataclass(frozen=True)
class KubeClusterConfig:
    namespaces: tuple[str, ...] = ()  # empty: every namespace (needs a ClusterRole)
    allow_delete: bool = False  # RetireModel(delete=True) deletes the Deployment only if set
    attempts: int = 5  # per operation, for 409 / 429 / 5xx / timeouts
    backoff_seconds: float = 0.2  # first retry delay; doubles each attempt
    backoff_cap_seconds: float = 5.0
    interval_seconds: float = 60.0  # the daemon's tick: the snapshot's observation interval
    defaults: ObserveDefaults = field(default_factory=ObserveDefaults)


class KubernetesCluster:
    """`ClusterSource` + `Executor` over a `KubeApi`."""

    def __init__(
        self,
        api: KubeApi,
        clock: Clock,
        config: KubeClusterConfig | None = None,
        *,
        metrics: ServingMetricsSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api, self.clock = api, clock
        self.config = config or KubeClusterConfig()
        self.metrics, self._sleep = metrics, sleep
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
        return ClusterSnapshot(
            at=now,
            nodes=nodes,
            deployments=deployments,
            metrics=self._metrics(deployments),
            interval_seconds=self.config.interval_seconds,
        )

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

    def _scale(
        self,
        action: Action,
        key: str,
        target_of: Callable[[KubeDeployment], int],
        extra: dict[str, str],
        dry: bool,
    ) -> tuple[ResultStatus, str]:
        ns, name = _split(key)
        dep = self._get_deployment(ns, name)
        ann = dep.metadata.annotations
        ids = ann.get(ACTION_IDS, "").split()
        if action.id in ids:
            target = int(ann.get(ACTION_REPLICAS, dep.spec.replicas))
            if action.id != ids[-1] or dep.spec.replicas == target:
                return ResultStatus.DUPLICATE, f"{key}: action {action.id} was applied before"
            rv = dep.metadata.resource_version  # annotated, not yet scaled: finish it
        else:
            if ann.get(RETIRED, "").lower() == "true" and not isinstance(action, RetireModel):
                raise ActionRejected(f"deployment {key!r} is retired; it takes no further actions")
            target = target_of(dep)
            patch = self._annotate(dep.metadata.resource_version, action.id, ids, target, extra)
            rv = self.api.patch_deployment(ns, name, patch, dry_run=dry).metadata.resource_version
        self.api.patch_scale(ns, name, target, rv, dry_run=dry)
        if dry:
            return (
                ResultStatus.DRY_RUN,
                f"dry run (server-side), nothing changed: {key} -> {target}",
            )
        return ResultStatus.APPLIED, f"{key}: replicas {dep.spec.replicas} -> {target}"

    def _move(self, action: MoveDeployment, dry: bool) -> tuple[ResultStatus, str]:
        ns, name = _split(action.deployment)
        dep = self._get_deployment(ns, name)
        ids = dep.metadata.annotations.get(ACTION_IDS, "").split()
        if action.id in ids:
            return ResultStatus.DUPLICATE, f"{action.deployment}: action {action.id} applied before"
        selector: dict[str, object] = {}
        if action.to_gpu_type is not None:
            selector[GPU_PRODUCT] = action.to_gpu_type
        if action.to_pool is not None:
            selector[POOL_LABEL] = action.to_pool.value
        patch = {
            **self._annotate(dep.metadata.resource_version, action.id, ids, None, {}),
            "spec": {"template": {"spec": {"nodeSelector": selector}}},
        }
        self.api.patch_deployment(ns, name, patch, dry_run=dry)
        where = ", ".join(f"{k}={v}" for k, v in selector.items())
        if dry:
            return ResultStatus.DRY_RUN, f"dry run (server-side): {action.deployment} -> {where}"
        return ResultStatus.APPLIED, f"{action.deployment}: node selector now {where}"

    def _schedule(self, action: ScheduleCapacity, dry: bool) -> tuple[ResultStatus, str]:
        """Record the window in the deployment's `capacity-windows` annotation (lapsed ones
        dropped); the daemon's planners read it back and scale ahead of its start."""
        ns, name = _split(action.deployment)
        dep = self._get_deployment(ns, name)
        ann = dep.metadata.annotations
        ids = ann.get(ACTION_IDS, "").split()
        if action.id in ids:
            return ResultStatus.DUPLICATE, f"{action.deployment}: action {action.id} applied before"
        now = self.clock.now()
        kept = [
            w
            for w in capacity_windows(ann.get(WINDOWS), f"deployment {action.deployment}")
            if w.end > now
        ]
        text = WINDOW_LIST.dump_json([*kept, action.window()]).decode()
        patch = self._annotate(dep.metadata.resource_version, action.id, ids, None, {WINDOWS: text})
        self.api.patch_deployment(ns, name, patch, dry_run=dry)
        what = f"{action.deployment}: >= {action.replicas} replica(s) reserved " + (
            f"{action.start.isoformat()} to {action.end.isoformat()}"
        )
        if dry:
            return ResultStatus.DRY_RUN, f"dry run (server-side): {what}"
        return ResultStatus.APPLIED, what

    def _cordon(self, action: CordonNode, dry: bool) -> tuple[ResultStatus, str]:
        try:
            node = self.api.get_node(action.node)
        except ApiNotFound:
            raise ActionRejected(f"unknown node {action.node!r}") from None
        ids = node.metadata.annotations.get(ACTION_IDS, "").split()
        if action.id in ids:
            return ResultStatus.DUPLICATE, f"node {action.node}: action {action.id} applied before"
        patch = {
            **self._annotate(node.metadata.resource_version, action.id, ids, None, {}),
            "spec": {"unschedulable": action.cordon or None},
        }
        self.api.patch_node(action.node, patch, dry_run=dry)
        verb = "cordoned" if action.cordon else "uncordoned"
        if dry:
            return ResultStatus.DRY_RUN, f"dry run (server-side): node {action.node} {verb}"
        return ResultStatus.APPLIED, f"node {action.node} {verb}"

    def _delete(self, action: RetireModel, dry: bool) -> tuple[ResultStatus, str]:
        if not self.config.allow_delete:
            raise ActionRejected(
                f"retire {action.deployment} asks to delete it, and deletion is off. Fix: set "
                "GPUSTEWARD_KUBE_ALLOW_DELETE=true (and grant `delete` in the Role), or retire "
                "without delete (scale to zero)."
            )
        ns, name = _split(action.deployment)
        try:
            self.api.delete_deployment(ns, name, dry_run=dry)
        except ApiNotFound:
            return ResultStatus.DUPLICATE, f"{action.deployment}: already deleted"
        if dry:
            return ResultStatus.DRY_RUN, f"dry run (server-side): {action.deployment} deleted"
        return ResultStatus.APPLIED, f"{action.deployment}: deleted"

    def _get_deployment(self, ns: str, name: str) -> KubeDeployment:
        try:
            dep = self.api.get_deployment(ns, name)
        except ApiNotFound:
            raise ActionRejected(f"unknown deployment {ns}/{name!r}") from None
        if MODEL_LABEL not in dep.metadata.labels:
            raise ActionRejected(
                f"deployment {ns}/{name} has no {MODEL_LABEL} label: gpusteward does not "
                "manage it. Fix: label it, or leave it alone."
            )
        return dep

    @staticmethod
    def _annotate(
        resource_version: str | None,
        action_id: str,
        ids: list[str],
        replicas: int | None,
        extra: dict[str, str],
    ) -> dict[str, object]:
        annotations: dict[str, object] = {ACTION_IDS: " ".join([*ids, action_id][-KEEP_IDS:])}
        if replicas is not None:
            annotations[ACTION_REPLICAS] = str(replicas)
        annotations.update(extra)
        meta: dict[str, object] = {"annotations": annotations}
        if resource_version is not None:
            meta["resourceVersion"] = resource_version
        patch: MergePatch = {"metadata": meta}
        return dict(patch)

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


def _split(key: str) -> tuple[str, str]:
    ns, sep, name = key.partition("/")
    if not sep or not ns or not name:
        raise ActionRejected(f"deployment {key!r}: expected 'namespace/name'")
    return ns, name
