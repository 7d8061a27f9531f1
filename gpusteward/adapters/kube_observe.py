"""Kubernetes objects -> domain types: nodes, model deployments and their replicas. Pure.

Conventions (all under the `gpusteward.io/` prefix; see README, "Kubernetes backend"):

- a Deployment serves a model when it (and its pod template) carries the label
  `gpusteward.io/model`; annotations give `version`, `workload` (realtime / batch /
  training), `min-replicas`, `max-replicas`, `cold-start-seconds`,
  `slo-queue-delay-seconds`, `slo-ttft-p95-seconds`, `gpu-memory-gib` (per replica) and
  `retired`; GPUs per replica come from the containers' `nvidia.com/gpu` limits, and the
  GPU type / pool it may run on from its node selector (`nvidia.com/gpu.product`,
  `gpusteward.io/pool`).
- a node's GPUs are its `nvidia.com/gpu` capacity (allocatable below capacity: the device
  plugin found unhealthy GPUs), product and memory come from GPU feature discovery labels
  (`nvidia.com/gpu.product`, `nvidia.com/gpu.memory` in MiB), region from
  `topology.kubernetes.io/region`, pool from `gpusteward.io/pool` or the cloud's spot
  labels, price from `gpusteward.io/price-per-gpu-hour`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import TypeAdapter

from gpusteward.adapters.kube_objects import KubeDeployment, KubeNode, KubePod
from gpusteward.core.cluster import (
    CapacityWindow,
    Gpu,
    Health,
    ModelDeployment,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    Slo,
    WorkloadClass,
)
from gpusteward.core.errors import InputError

E = TypeVar("E", Pool, WorkloadClass)
PREFIX = "gpusteward.io/"
MODEL_LABEL = PREFIX + "model"
POOL_LABEL = PREFIX + "pool"
PRICE = PREFIX + "price-per-gpu-hour"
RETIRED = PREFIX + "retired"
INTENT = PREFIX + "intent"  # an operator's note on expected load (free text, data)
WINDOWS = PREFIX + "capacity-windows"  # JSON list written by approved schedule actions
ADAPTERS = PREFIX + "adapters"  # on a runtime: the merged deployments it serves, space-separated
ROUTED_TO = PREFIX + "routed-to"  # on a merged deployment: the runtime serving its requests
GPU = "nvidia.com/gpu"
GPU_PRODUCT = "nvidia.com/gpu.product"
GPU_MEMORY_MIB = "nvidia.com/gpu.memory"
REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
SPOT_LABELS = {
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacityType": "SPOT",
    "cloud.google.com/gke-spot": "true",
    "cloud.google.com/gke-preemptible": "true",
    "kubernetes.azure.com/scalesetpriority": "spot",
}


@dataclass(frozen=True)
class ObserveDefaults:
    """What an object leaves unsaid. Units in the names."""

    pool: Pool = Pool.ON_PREM
    gpu_memory_gib: float = 80.0  # when a node lacks the GFD memory label
    max_replicas: int = 8
    cold_start_seconds: float = 120.0
    slo_queue_delay_seconds: float = 2.0


def node_pool(labels: Mapping[str, str], default: Pool) -> Pool:
    if POOL_LABEL in labels:
        return _enum(Pool, labels[POOL_LABEL], f"label {POOL_LABEL}")
    if any(labels.get(k, "").lower() == v.lower() for k, v in SPOT_LABELS.items()):
        return Pool.SPOT
    return default


def gpu_nodes(
    nodes: Sequence[KubeNode], placed: Mapping[str, Sequence[str]], defaults: ObserveDefaults
) -> tuple[Node, ...]:
    """Nodes with `nvidia.com/gpu` capacity; `placed[node]` lists the pods holding its GPUs,
    one entry per GPU, in order."""
    out = []
    for n in nodes:
        labels = n.metadata.labels
        capacity = int(n.status.capacity.get(GPU, n.status.allocatable.get(GPU, "0")))
        if capacity <= 0:
            continue
        allocatable = int(n.status.allocatable.get(GPU, str(capacity)))
        ready = all(c.status == "True" for c in n.status.conditions if c.type == "Ready")
        holders = list(placed.get(n.metadata.name, ()))
        mib = labels.get(GPU_MEMORY_MIB)
        gpus = tuple(
            Gpu(
                index=i,
                type=labels.get(GPU_PRODUCT, "unknown"),
                memory_gib=int(mib) / 1024 if mib else defaults.gpu_memory_gib,
                health=Health.HEALTHY if ready and i < allocatable else Health.FAILED,
                allocated_to=holders[i] if i < len(holders) else None,
            )
            for i in range(capacity)
        )
        taints = ",".join(f"{t.key}:{t.effect}" for t in n.spec.taints)
        price = n.metadata.annotations.get(PRICE, labels.get(PRICE, "0"))
        out.append(
            Node(
                name=n.metadata.name,
                pool=node_pool(labels, defaults.pool),
                region=labels.get(REGION, "local"),
                price_per_gpu_hour=_number(price, f"node {n.metadata.name}: {PRICE}"),
                gpus=gpus,
                cordoned=n.spec.unschedulable,
                labels={**labels, **({PREFIX + "taints": taints} if taints else {})},
            )
        )
    return tuple(out)


def pods_of(dep: KubeDeployment, pods: Sequence[KubePod]) -> list[KubePod]:
    """The pods a deployment's selector matches, in its namespace, by name."""
    want = dep.spec.selector.match_labels or {MODEL_LABEL: dep.metadata.labels[MODEL_LABEL]}
    return sorted(
        (
            p
            for p in pods
            if p.metadata.namespace == dep.metadata.namespace
            and all(p.metadata.labels.get(k) == v for k, v in want.items())
        ),
        key=lambda p: p.metadata.name,
    )


def replica(
    pod: KubePod,
    gpu_indices: tuple[int, ...],
    cold_start_seconds: float = 0.0,
    now: datetime | None = None,
) -> Replica:
    """A pod as a replica. A loading one is expected ready a cold start after the kubelet
    took it on (`status.startTime`). One without that time, or overdue (crash-looping, an
    image that will not pull), is not counted on before a whole cold start from now."""
    ready_in = 0.0
    if pod.status.phase == "Running" and pod.status.ready:
        phase = ReplicaPhase.READY
    elif pod.spec.node_name:
        phase = ReplicaPhase.LOADING
        started = _time(pod.status.start_time)
        ready_in = cold_start_seconds
        if started is not None and now is not None:
            left = cold_start_seconds - (now - started).total_seconds()
            ready_in = left if 0 < left <= cold_start_seconds else cold_start_seconds
    else:
        phase = ReplicaPhase.PENDING
    return Replica(
        id=pod.metadata.name,
        phase=phase,
        node=pod.spec.node_name,
        gpu_indices=gpu_indices,
        ready_in_seconds=ready_in,
    )


def draining(pod: KubePod, gpu_indices: tuple[int, ...], now: datetime | None) -> Replica:
    """A terminating pod: out of its Service's endpoints, finishing its in-flight requests
    (its preStop hook), and killed at its deletionTimestamp at the latest (the API server
    sets it to the deletion time plus the grace period)."""
    deadline = _time(pod.metadata.deletion_timestamp)
    left = (deadline - now).total_seconds() if deadline is not None and now is not None else 0.0
    return Replica(
        id=pod.metadata.name,
        phase=ReplicaPhase.DRAINING,
        node=pod.spec.node_name,
        gpu_indices=gpu_indices,
        drain_ends_in_seconds=max(0.0, left),
    )


def _time(raw: str | None) -> datetime | None:
    """An RFC 3339 time from the API, or None when absent or unreadable."""
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def place_pods(pods: Sequence[KubePod]) -> tuple[dict[str, list[str]], dict[str, tuple[int, ...]]]:
    """GPU holders per node, and GPU indices per pod. Kubernetes does not say which device a
    pod got (that is the kubelet's pod-resources API), so indices are assigned in order."""
    holders: dict[str, list[str]] = defaultdict(list)
    indices: dict[str, tuple[int, ...]] = {}
    for pod in sorted(pods, key=lambda p: (p.spec.node_name or "", p.metadata.name)):
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            continue
        mine = holders[pod.spec.node_name]
        start = len(mine)
        mine.extend([pod.metadata.name] * pod.spec.gpus())
        indices[pod.metadata.name] = tuple(range(start, len(mine)))
    return holders, indices


def model_deployment(
    dep: KubeDeployment,
    pods: Sequence[KubePod],
    indices: Mapping[str, tuple[int, ...]],
    gpu_memory_by_type: Mapping[str, float],
    defaults: ObserveDefaults,
    now: datetime | None = None,
) -> ModelDeployment:
    """One Deployment as a `ModelDeployment`; `InputError` names the object and annotation."""
    meta, spec = dep.metadata, dep.spec.template.spec
    ann = {**meta.labels, **meta.annotations}
    where = f"deployment {dep.key}"

    def num(name: str, default: float) -> float:
        return (
            _number(ann[PREFIX + name], f"{where}: {PREFIX}{name}")
            if PREFIX + name in ann
            else default
        )

    gpus = spec.gpus()
    if gpus < 1:
        raise InputError(
            f"{where}: labelled {MODEL_LABEL} but requests no nvidia.com/gpu. Fix: set the "
            "container's resources.limits['nvidia.com/gpu'], or remove the label."
        )
    gpu_type = spec.node_selector.get(GPU_PRODUCT)
    per_gpu = gpu_memory_by_type.get(gpu_type or "", defaults.gpu_memory_gib)
    min_r = int(num("min-replicas", 0))
    ttft = num("slo-ttft-p95-seconds", 0.0)
    cold_start = num("cold-start-seconds", defaults.cold_start_seconds)
    return ModelDeployment(
        name=meta.name,
        namespace=meta.namespace or "default",
        model=meta.labels[MODEL_LABEL],
        version=ann.get(PREFIX + "version", "v1"),
        workload=_enum(
            WorkloadClass, ann.get(PREFIX + "workload", "realtime"), f"{where}: workload"
        ),
        replicas=dep.spec.replicas,
        gpus_per_replica=gpus,
        gpu_memory_gib_per_replica=num("gpu-memory-gib", per_gpu * gpus),
        gpu_types=(gpu_type,) if gpu_type else (),
        pools=(_enum(Pool, spec.node_selector[POOL_LABEL], f"{where}: pool"),)
        if POOL_LABEL in spec.node_selector
        else (),
        min_replicas=min_r,
        max_replicas=max(
            min_r, int(num("max-replicas", max(defaults.max_replicas, dep.spec.replicas)))
        ),
        cold_start_seconds=cold_start,
        slo=Slo(
            queue_delay_seconds=num("slo-queue-delay-seconds", defaults.slo_queue_delay_seconds),
            ttft_p95_seconds=ttft or None,
        ),
        replica_states=tuple(
            replica(p, indices.get(p.metadata.name, ()), cold_start, now)
            for p in pods
            if not p.metadata.deletion_timestamp
        ),
        draining=tuple(
            draining(p, indices.get(p.metadata.name, ()), now)
            for p in pods
            if p.metadata.deletion_timestamp
        ),
        retired=ann.get(RETIRED, "false").lower() == "true",
        labels=dict(meta.labels),
        adapters=tuple(meta.annotations.get(ADAPTERS, "").split()),
        routed_to=meta.annotations.get(ROUTED_TO) or None,
        intent=meta.annotations.get(INTENT, "")[:2000] or None,
        capacity_windows=capacity_windows(meta.annotations.get(WINDOWS), where),
    )


def _number(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise InputError(f"{where} = {raw!r}: expected a number >= 0. Fix: correct the annotation.")
    return value


def _enum(kind: type[E], raw: str, where: str) -> E:
    try:
        return kind(raw)
    except ValueError:
        known = ", ".join(v.value for v in kind)
        raise InputError(f"{where} = {raw!r}: expected one of {known}. Fix: correct it.") from None


def capacity_windows(text: str | None, where: str) -> tuple[CapacityWindow, ...]:
    """The windows of the `gpusteward.io/capacity-windows` annotation (JSON list)."""
    if not text:
        return ()
    try:
        return tuple(WINDOW_LIST.validate_json(text))
    except ValueError as e:
        raise InputError(
            f"{where}: annotation {WINDOWS} is not a JSON list of windows "
            f"({{replicas, start, end, action_id}}): {str(e).splitlines()[0]}. Fix: remove the "
            "annotation (gpusteward rewrites it when a schedule is approved), or correct it."
        ) from None


WINDOW_LIST: TypeAdapter[list[CapacityWindow]] = TypeAdapter(list[CapacityWindow])
