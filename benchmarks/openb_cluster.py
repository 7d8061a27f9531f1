"""The real openb cluster as a gpusteward `ClusterSnapshot`, with guard inputs and a
seeded mix of proposals: the workbench the policy benchmark times the engine on, and that
the prompt-budget and placement tests read.

Builds one snapshot from the openb trace (`../shared/data/openb`: 1,213 GPU nodes, 6,212
GPUs; the GPU pods of `openb_pod_list_default.csv` packed first-fit), guard inputs (a
forecast and three days of 60 s load history per deployment, 200 recent actions) and
proposals.

Assumptions (the trace has no serving layer; these are ours, not Alibaba's):
- Memory per GPU: P100, T4, V100M16 16 GiB; V100M32 32; A10 24; G2 and G3 (anonymised
  in the trace) 32 GiB. Price per GPU-hour (USD, roughly public cloud list prices):
  P100 1.46, T4 0.35, V100M16 2.48, V100M32 3.06, A10 1.01, G2 2.00, G3 2.50. All on-prem.
- Pods that request GPUs (`num_gpu >= 1`) are replicas; a GPU-sharing pod
  (`gpu_milli < 1000`) is counted as a whole 1-GPU replica.
- The trace's pods arrive over months and rarely coexist, so the snapshot is "the
  cluster filling up": pods are taken in `creation_time` order and placed first-fit over
  the node list (honouring `gpu_spec`, e.g. `V100M16|V100M32`, when given) until
  `--fill` (0.9) of the GPUs are held, close to the 90-95 % the FGD paper (ATC '23)
  reaches on this trace. A pod that fits nowhere at that moment is a pending replica.
- Deployments: pods with the same request shape (num_gpu, gpu_milli, cpu_milli,
  memory_mib, qos) are one model; its pods are split, in creation order, into
  deployments of at most 16 replicas. qos LS -> namespace `serving` (realtime),
  BE / Burstable -> `batch` (batch), Guaranteed -> `training` (training). The first of
  every four `serving` deployments of a model is labelled tier=critical.
  Bounds: [max(1, n // 2), 2 n].
- Metrics, forecasts, history and recent actions are drawn from a seeded RNG.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpusteward.core.actions import (
    Action,
    ConsolidateModels,
    CordonNode,
    MoveDeployment,
    PrewarmReplicas,
    Proposal,
    RetireModel,
    ScaleDeployment,
)
from gpusteward.core.cluster import (
    ClusterSnapshot,
    Gpu,
    ModelDeployment,
    Node,
    Pool,
    Replica,
    ReplicaPhase,
    ServingMetrics,
    Slo,
    WorkloadClass,
)
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import ExecutedAction

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "openb"
NODE_FILE = "openb_node_list_gpu_node.csv"
POD_FILE = "openb_pod_list_default.csv"
AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday afternoon: no freeze window
STEP_S = 60.0
HISTORY_DAYS = 3
FORECAST_POINTS = 15
MAX_REPLICAS_PER_DEPLOYMENT = 16
GPU_MEMORY_GIB = {"P100": 16, "T4": 16, "V100M16": 16, "V100M32": 32, "A10": 24, "G2": 32}
GPU_PRICE = {"P100": 1.46, "T4": 0.35, "V100M16": 2.48, "V100M32": 3.06, "A10": 1.01, "G2": 2.0}
DEFAULT_MEMORY_GIB, DEFAULT_PRICE = 32, 2.5  # G3 and any model not listed
NAMESPACE = {"LS": "serving", "BE": "batch", "Burstable": "batch", "Guaranteed": "training"}
WORKLOAD = {
    "serving": WorkloadClass.REALTIME,
    "batch": WorkloadClass.BATCH,
    "training": WorkloadClass.TRAINING,
}


class DataMissing(SystemExit):
    """The openb folder is absent; the message names the path and the fix."""


@dataclass(frozen=True)
class Pod:
    name: str
    num_gpu: int
    gpu_milli: int
    cpu_milli: int
    memory_mib: int
    gpu_spec: tuple[str, ...]
    qos: str
    phase: str
    created: int


@dataclass(frozen=True)
class Workbench:
    snapshot: ClusterSnapshot
    inputs: GuardInputs
    pods_admitted: int
    pods_pending: int


# -- the snapshot -----------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataMissing(
            f"benchmarks/policy.py: {path} not found. It is the openb Alibaba trace "
            f"(see shared/data/README.md). Fix: pass --data DIR pointing at the folder with "
            f"{NODE_FILE} and {POD_FILE} (default {DEFAULT_DATA})."
        )
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_pods(data: Path) -> list[Pod]:
    pods = [
        Pod(
            name=r["name"],
            num_gpu=int(r["num_gpu"]),
            gpu_milli=int(r["gpu_milli"] or 0),
            cpu_milli=int(r["cpu_milli"]),
            memory_mib=int(r["memory_mib"]),
            gpu_spec=tuple(s for s in r["gpu_spec"].split("|") if s),
            qos=r["qos"],
            phase=r["pod_phase"],
            created=int(r["creation_time"] or 0),
        )
        for r in _rows(data / POD_FILE)
    ]
    return sorted((p for p in pods if p.num_gpu >= 1), key=lambda p: (p.created, p.name))


def _place(pods: list[Pod], nodes: list[dict[str, str]], fill: float) -> tuple[list, dict]:
    """First fit in creation order until `fill` of the GPUs are held: (placed pods, owners)."""
    free = {n["sn"]: list(range(int(n["gpu"]))) for n in nodes}
    model = {n["sn"]: n["model"] for n in nodes}
    limit = fill * sum(len(g) for g in free.values())
    held, placed, owners = 0, [], {}
    for pod in pods:
        if held >= limit:
            break
        node = next(
            (
                sn
                for sn, gpus in free.items()
                if len(gpus) >= pod.num_gpu and (not pod.gpu_spec or model[sn] in pod.gpu_spec)
            ),
            None,
        )
        taken: tuple[int, ...] = ()
        if node is not None:
            taken, free[node] = tuple(free[node][: pod.num_gpu]), free[node][pod.num_gpu :]
            owners.update({(node, g): pod.name for g in taken})
            held += pod.num_gpu
        placed.append((pod, node, taken))
    return placed, owners


def build_workbench(data: Path, fill: float = 0.9, seed: int = 7) -> Workbench:
    """The openb cluster as a snapshot, with guard inputs; deterministic for a seed."""
    node_rows = _rows(data / NODE_FILE)
    placed, owners = _place(read_pods(data), node_rows, fill)
    rng = random.Random(seed)
    groups: dict[tuple, list] = defaultdict(list)
    for pod, node, taken in placed:
        shape = (pod.num_gpu, pod.gpu_milli, pod.cpu_milli, pod.memory_mib, pod.qos)
        groups[shape].append((pod, node, taken))
    deployments, metrics, forecasts, load = [], {}, {}, {}
    for shape, members in groups.items():
        num_gpu, milli, cpu, mem, qos = shape
        ns = NAMESPACE.get(qos, "batch")
        model = f"openb-g{num_gpu}-m{milli}-c{cpu}-r{mem}-{qos.lower()}"
        for chunk in range(0, len(members), MAX_REPLICAS_PER_DEPLOYMENT):
            part = members[chunk : chunk + MAX_REPLICAS_PER_DEPLOYMENT]
            name = f"{model}-{chunk // MAX_REPLICAS_PER_DEPLOYMENT:03d}"
            critical = ns == "serving" and (chunk // MAX_REPLICAS_PER_DEPLOYMENT) % 4 == 0
            d = _deployment(name, ns, model, (num_gpu, milli, critical), part, rng)
            deployments.append(d)
            metrics[d.key], forecasts[d.key], load[d.key] = _signals(d, rng)
    nodes = tuple(
        Node(
            name=r["sn"],
            pool=Pool.ON_PREM,
            price_per_gpu_hour=GPU_PRICE.get(r["model"], DEFAULT_PRICE),
            labels={"cpu_milli": r["cpu_milli"], "memory_mib": r["memory_mib"]},
            gpus=tuple(
                Gpu(
                    index=g,
                    type=r["model"],
                    memory_gib=GPU_MEMORY_GIB.get(r["model"], DEFAULT_MEMORY_GIB),
                    allocated_to=owners.get((r["sn"], g)),
                )
                for g in range(int(r["gpu"]))
            ),
        )
        for r in node_rows
    )
    snapshot = ClusterSnapshot(at=AT, nodes=nodes, deployments=tuple(deployments), metrics=metrics)
    recent = _recent(deployments, rng)
    inputs = GuardInputs(forecasts=forecasts, load=load, recent=recent)
    pending = sum(1 for _, node, _ in placed if node is None)
    return Workbench(snapshot, inputs, len(placed), pending)


def _deployment(
    name: str, ns: str, model: str, shape: tuple[int, int, bool], part: list, rng: random.Random
) -> ModelDeployment:
    num_gpu, milli, critical = shape
    replicas = tuple(
        Replica(
            id=pod.name,
            phase=ReplicaPhase.PENDING
            if node is None
            else ReplicaPhase.LOADING
            if pod.phase == "Pending"
            else ReplicaPhase.READY,
            node=node,
            gpu_indices=taken,
        )
        for pod, node, taken in part
    )
    n = len(part)
    return ModelDeployment(
        name=name,
        namespace=ns,
        model=model,
        workload=WORKLOAD[ns],
        replicas=n,
        gpus_per_replica=num_gpu,
        gpu_memory_gib_per_replica=max(1.0, 16.0 * num_gpu * min(milli, 1000) / 1000),
        min_replicas=max(1, n // 2),
        max_replicas=2 * n,
        cold_start_seconds=rng.choice((60.0, 120.0, 240.0, 480.0)),
        slo=Slo(queue_delay_seconds=1.0),
        replica_states=replicas,
        labels={"tier": "critical" if critical else "standard", "source": "openb"},
    )


def _signals(d: ModelDeployment, rng: random.Random) -> tuple[ServingMetrics, Forecast, LoadSeries]:
    """Serving metrics, a 15-point forecast and 3 days of 60 s load history."""
    ready = d.count(ReplicaPhase.READY)
    per_replica = 4.0 * d.gpus_per_replica
    capacity = ready * per_replica
    util = rng.uniform(0.2, 0.9)
    arrival = capacity * util
    metrics = ServingMetrics(
        arrival_rate_rps=arrival,
        served_rate_rps=arrival,
        queue_depth=rng.randrange(0, 20),
        running=ready,
        capacity_rps=capacity,
        gpu_utilization=util,
    )
    trend = rng.uniform(0.8, 1.3)
    points = tuple(
        ForecastPoint(
            at=AT + timedelta(seconds=STEP_S * (i + 1)),
            point=arrival * trend,
            p10=arrival * trend * 0.85,
            p50=arrival * trend,
            p90=arrival * trend * 1.25,
        )
        for i in range(FORECAST_POINTS)
    )
    forecast = Forecast(
        key=d.key, forecaster="bench", made_at=AT, step_seconds=STEP_S, points=points
    )
    n = int(HISTORY_DAYS * 86_400 // STEP_S)
    idle = rng.random() < 0.1  # some deployments saw no traffic (retirement candidates)
    phase = rng.uniform(0, 1440)
    values = tuple(
        0.0 if idle else arrival * (0.6 + 0.4 * _diurnal(i + phase)) * rng.uniform(0.9, 1.1)
        for i in range(n)
    )
    series = LoadSeries.model_construct(  # trusted floats, as LoadHistory.series() does
        key=d.key, start=AT - timedelta(seconds=n * STEP_S), step_seconds=STEP_S, values=values
    )
    return metrics, forecast, series


def _diurnal(minute: float) -> float:
    x = (minute % 1440) / 1440
    return 1 - abs(2 * x - 1)  # triangle: 0 at midnight, 1 at noon


def _recent(deployments: Sequence[ModelDeployment], rng: random.Random) -> tuple:
    out = []
    for _ in range(200):
        d = rng.choice(deployments)
        at = AT - timedelta(seconds=rng.uniform(30, 86_400))
        action: Action
        if rng.random() < 0.7:
            step = rng.choice((-2, -1, 1, 2))
            after = max(0, d.replicas + step)
            action = ScaleDeployment(
                deployment=d.key, replicas=after, from_replicas=d.replicas, issued_at=at
            )
        else:
            action = PrewarmReplicas(deployment=d.key, count=rng.randint(1, 3), issued_at=at)
        out.append(ExecutedAction(action=action, at=at))
    return tuple(sorted(out, key=lambda a: a.at))


# -- the proposals ----------------------------------------------------------------------


def make_proposals(snapshot: ClusterSnapshot, n: int, seed: int = 11) -> list[Proposal]:
    """A seeded mix: scale 45 %, prewarm 20 %, move 10 %, cordon 10 %, retire and
    consolidate 5 % each, unknown target 5 %; about a third of scales leave the bounds."""
    rng = random.Random(seed)
    deps = list(snapshot.deployments)
    by_model: dict[str, list[ModelDeployment]] = defaultdict(list)
    for d in deps:
        by_model[d.model].append(d)
    multi = [ds for ds in by_model.values() if len(ds) > 1]
    nodes = [node.name for node in snapshot.nodes]
    out = []
    for i in range(n):
        d = rng.choice(deps)
        key = d.key if rng.random() >= 0.05 else f"serving/no-such-{i}"
        roll = rng.random()
        action: Action
        if roll < 0.45:
            if rng.random() < 0.67:
                after = rng.randint(d.min_replicas, d.max_replicas)
            else:
                after = rng.choice((0, d.max_replicas + rng.randint(1, 40)))
            action = ScaleDeployment(
                deployment=key, replicas=after, from_replicas=d.replicas, issued_at=AT
            )
        elif roll < 0.65:
            action = PrewarmReplicas(deployment=key, count=rng.randint(1, 20), issued_at=AT)
        elif roll < 0.75:
            pool = rng.choice((Pool.SPOT, Pool.SPOT, Pool.TRAINING, Pool.CLOUD))
            action = MoveDeployment(deployment=key, to_pool=pool, issued_at=AT)
        elif roll < 0.85:
            node = rng.choice(nodes) if key == d.key else f"openb-node-missing-{i}"
            action = CordonNode(node=node, issued_at=AT)
        elif roll < 0.90:
            action = RetireModel(deployment=key, issued_at=AT)
        else:
            group = rng.choice(multi)
            into, *sources = rng.sample(group, min(len(group), rng.randint(2, 4)))
            target = into.key if key == d.key else key
            action = ConsolidateModels(
                sources=tuple(s.key for s in sources), into=target, issued_at=AT
            )
        out.append(Proposal(action=action, reason="benchmark", planner="bench"))
    return out
