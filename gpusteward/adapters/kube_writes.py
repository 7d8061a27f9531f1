"""The Kubernetes backend's writes, one per action kind, and what they share: every write
carries the action id in the `gpusteward.io/action-ids` annotation of the object it
changes and reads its resourceVersion first (409 if someone changed it since), so a
retried action finds its id and is not applied twice.

A scale is two writes, annotate then scale: the annotation records the id and the target
replica count, so a retry after a failure between the two completes the scale instead of
adding replicas again. Before a scale-down it marks the pods to go with the
`controller.kubernetes.io/pod-deletion-cost` annotation (the ReplicaSet controller deletes
the lowest cost first): pods on a cordoned node first, then the newest (unready pods go
first by themselves; `kube_drain`). A removed pod drains: the API server
takes it out of its Service's endpoints, its preStop hook waits for its in-flight requests
and its terminationGracePeriodSeconds bounds that (deploy/kubernetes/examples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gpusteward.adapters.kube_api import ApiNotFound, KubeApi, MergePatch
from gpusteward.adapters.kube_drain import DELETION_COST, removal_marks
from gpusteward.adapters.kube_objects import KubeDeployment
from gpusteward.adapters.kube_observe import (
    ADAPTERS,
    GPU_PRODUCT,
    MODEL_LABEL,
    POOL_LABEL,
    PREFIX,
    RETIRED,
    ROUTED_TO,
    WINDOW_LIST,
    WINDOWS,
    ObserveDefaults,
    capacity_windows,
    pods_of,
)
from gpusteward.core.actions import (
    Action,
    CordonNode,
    MergeAdapters,
    MoveDeployment,
    RetireModel,
    ScheduleCapacity,
    UnmergeAdapters,
)
from gpusteward.core.errors import ActionRejected
from gpusteward.core.ports import Clock
from gpusteward.core.verdicts import ResultStatus

ACTION_IDS = PREFIX + "action-ids"  # space-separated, newest last
ACTION_REPLICAS = PREFIX + "action-replicas"  # target of the newest scale-type action
KEEP_IDS = 16


@dataclass(frozen=True)
class KubeClusterConfig:
    namespaces: tuple[str, ...] = ()  # empty: every namespace (needs a ClusterRole)
    allow_delete: bool = False  # RetireModel(delete=True) deletes the Deployment only if set
    # MergeAdapters only if set: a request router sends a merged deployment's requests to
    # the runtime its gpusteward.io/routed-to annotation names (see `_merge`)
    adapter_router: bool = False
    attempts: int = 5  # per operation, for 409 / 429 / 5xx / timeouts
    backoff_seconds: float = 0.2  # first retry delay; doubles each attempt
    backoff_cap_seconds: float = 5.0
    interval_seconds: float = 60.0  # the daemon's tick: the snapshot's observation interval
    defaults: ObserveDefaults = field(default_factory=ObserveDefaults)


class KubeWrites:
    """The writes of `KubernetesCluster` (which mixes this in): one method per action kind."""

    api: KubeApi
    clock: Clock
    config: KubeClusterConfig

    def _scale(
        self,
        action: Action,
        key: str,
        target_of: Callable[[KubeDeployment], int],
        extra: dict[str, str | None],
        dry: bool,
    ) -> tuple[ResultStatus, str]:
        ns, name = split_key(key)
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
        marked = self._mark_for_removal(dep, target, dry) if target < dep.spec.replicas else 0
        self.api.patch_scale(ns, name, target, rv, dry_run=dry)
        chosen = f" ({marked} pod(s) marked to go first)" if marked else ""
        if dry:
            return (
                ResultStatus.DRY_RUN,
                f"dry run (server-side), nothing changed: {key} -> {target}{chosen}",
            )
        return ResultStatus.APPLIED, f"{key}: replicas {dep.spec.replicas} -> {target}{chosen}"

    def _mark_for_removal(self, dep: KubeDeployment, target: int, dry: bool) -> int:
        """Set the pod-deletion-cost of the pods a scale-down to `target` should remove
        (`kube_drain.removal_marks`); returns how many are marked."""
        ns = dep.metadata.namespace or "default"
        pods = pods_of(dep, self.api.list_pods(ns, MODEL_LABEL))
        cordoned = {n.metadata.name for n in self.api.list_nodes() if n.spec.unschedulable}
        marks = removal_marks(pods, target, cordoned)
        for pod, cost in marks.items():
            patch = {"metadata": {"annotations": {DELETION_COST: cost}}}
            self.api.patch_pod(ns, pod, patch, dry_run=dry)
        return sum(1 for cost in marks.values() if cost is not None)

    def _move(self, action: MoveDeployment, dry: bool) -> tuple[ResultStatus, str]:
        ns, name = split_key(action.deployment)
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
        ns, name = split_key(action.deployment)
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
        return _outcome(what, dry)

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

    def _merge(self, action: MergeAdapters, dry: bool) -> tuple[ResultStatus, str]:
        """Each source: annotated `routed-to: <into>` and scaled to zero (it drains); then
        the runtime: `adapters` lists them (its adapter loader reads it). The runtime's
        action id is written last, so a retry redoes only what is missing."""
        self._need_router()
        ns, name = split_key(action.into)
        into = self._get_deployment(ns, name)
        ids = into.metadata.annotations.get(ACTION_IDS, "").split()
        if action.id in ids:
            return ResultStatus.DUPLICATE, f"{action.into}: action {action.id} applied before"
        sources = [(key, self._get_deployment(*split_key(key))) for key in action.sources]
        for key, dep in [(action.into, into), *sources]:
            if dep.metadata.labels[MODEL_LABEL] != action.base_model:
                raise ActionRejected(
                    f"{key} serves model {dep.metadata.labels[MODEL_LABEL]!r}, not "
                    f"{action.base_model!r}: only fine-tunes of one base model share its runtime"
                )
        for key, _ in sources:
            self._scale(action, key, lambda _: 0, {ROUTED_TO: action.into}, dry)
        have = into.metadata.annotations.get(ADAPTERS, "").split()
        served = " ".join(dict.fromkeys([*have, *action.sources]))
        patch = self._annotate(
            into.metadata.resource_version, action.id, ids, None, {ADAPTERS: served}
        )
        self.api.patch_deployment(ns, name, patch, dry_run=dry)
        what = (
            f"{action.into} serves {len(served.split())} adapter(s); "
            f"{', '.join(action.sources)} routed to it and scaled to 0"
        )
        return _outcome(what, dry)

    def _unmerge(self, action: UnmergeAdapters, dry: bool) -> tuple[ResultStatus, str]:
        """Each source: its `routed-to` annotation removed (the router sends its requests
        to it again; it stays at zero until the daemon wakes it, as any model at zero);
        then the runtime: the sources off its `adapters` list. The runtime's action id is
        written last, so a retry redoes only what is missing."""
        self._need_router()
        ns, name = split_key(action.runtime)
        runtime = self._get_deployment(ns, name)
        ids = runtime.metadata.annotations.get(ACTION_IDS, "").split()
        if action.id in ids:
            return ResultStatus.DUPLICATE, f"{action.runtime}: action {action.id} applied before"
        have = runtime.metadata.annotations.get(ADAPTERS, "").split()
        strangers = [s for s in action.sources if s not in have]
        if strangers:
            raise ActionRejected(
                f"{action.runtime} does not serve {', '.join(strangers)} as adapters (its "
                f"{ADAPTERS} annotation lists: {' '.join(have) or 'none'}); only a merged "
                "adapter can be unmerged"
            )
        for key in action.sources:
            self._scale(action, key, lambda d: d.spec.replicas, {ROUTED_TO: None}, dry)
        kept = " ".join(a for a in have if a not in action.sources)
        patch = self._annotate(
            runtime.metadata.resource_version, action.id, ids, None, {ADAPTERS: kept or None}
        )
        self.api.patch_deployment(ns, name, patch, dry_run=dry)
        what = (
            f"{action.runtime} serves {len(kept.split())} adapter(s); "
            f"{', '.join(action.sources)} routed to their own deployments again"
        )
        return _outcome(what, dry)

    def _need_router(self) -> None:
        if not self.config.adapter_router:
            raise ActionRejected(
                "merging or unmerging adapters needs a request router that sends each merged "
                f"model's requests to the runtime its {ROUTED_TO} annotation names (for "
                "example a Gateway API Inference Extension InferenceModel per adapter, on the "
                "base model's InferencePool) and a runtime that loads the adapters its "
                f"{ADAPTERS} annotation lists (vLLM with --enable-lora). Fix: install them and "
                "set GPUSTEWARD_KUBE_ADAPTER_ROUTER=true, or keep the fine-tunes on their own "
                "runtimes."
            )

    def _delete(self, action: RetireModel, dry: bool) -> tuple[ResultStatus, str]:
        if not self.config.allow_delete:
            raise ActionRejected(
                f"retire {action.deployment} asks to delete it, and deletion is off. Fix: set "
                "GPUSTEWARD_KUBE_ALLOW_DELETE=true (and grant `delete` in the Role), or retire "
                "without delete (scale to zero)."
            )
        ns, name = split_key(action.deployment)
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
        extra: dict[str, str | None],
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


def _outcome(what: str, dry: bool) -> tuple[ResultStatus, str]:
    """A write's result: applied, or accepted by the API server's dry run."""
    if dry:
        return ResultStatus.DRY_RUN, f"dry run (server-side): {what}"
    return ResultStatus.APPLIED, what


def split_key(key: str) -> tuple[str, str]:
    ns, sep, name = key.partition("/")
    if not sep or not ns or not name:
        raise ActionRejected(f"deployment {key!r}: expected 'namespace/name'")
    return ns, name
