"""Policy engine speed: default-pack verdicts per second on the real 1,213-node Alibaba cluster.

Builds one `ClusterSnapshot` from the openb trace (`../shared/data/openb`: 1,213 GPU
nodes, 6,212 GPUs; the GPU pods of `openb_pod_list_default.csv` packed first-fit),
guard inputs (a forecast and three days of 60 s load history per deployment, 200 recent
actions) and a seeded mix of proposals, then times `RulePolicyEngine.evaluate`.
Target (issue 4): >= 10,000 verdicts/s with the default pack (two CEL rules); p50 / p99
latency per verdict reported.

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

    python benchmarks/policy.py [--data DIR] [--batch 2000] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

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
from gpusteward.core.verdicts import ExecutedAction, Verdict
from policies.context import ClusterFacts
from policies.document import PACKS_DIR
from policies.engine import PolicySet, RulePolicyEngine, load_policy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "openb"
NODE_FILE = "openb_node_list_gpu_node.csv"
POD_FILE = "openb_pod_list_default.csv"
TARGET_VERDICTS_PER_S = 10_000
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
CEL_RULES = ("critical-off-spot", "wide-scale-down")


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


# -- measurement ------------------------------------------------------------------------


class CountingCel:
    """Wraps a compiled CEL rule to count evaluations (used in an untimed run only)."""

    def __init__(self, inner: object, counts: Counter[str], rule: str) -> None:
        self.inner, self.counts, self.rule = inner, counts, rule

    def evaluate_bool(self, activation: object) -> bool:
        self.counts[self.rule] += 1
        return self.inner.evaluate_bool(activation)  # type: ignore[attr-defined]


def cel_evaluations(policy: PolicySet, wb: Workbench, proposals: list[Proposal]) -> Counter[str]:
    counts: Counter[str] = Counter()
    rules = tuple(
        replace(r, cel=CountingCel(r.cel, counts, r.spec.id)) if r.cel is not None else r
        for r in policy.rules
    )
    RulePolicyEngine(replace(policy, rules=rules)).evaluate(proposals, wb.snapshot, wb.inputs)
    return counts


def per_verdict_in_batch(
    engine: RulePolicyEngine, wb: Workbench, proposals: list[Proposal]
) -> tuple[list[float], list[float], list[Verdict]]:
    """Wall and CPU seconds per verdict inside one batch, timed between the verdicts
    `RulePolicyEngine.iter_verdicts` yields (the first one also pays for the cluster facts).
    CPU time (this thread's) leaves out preemption by other processes."""
    wall, cpu, verdicts = [], [], []
    t0, c0 = time.perf_counter(), time.thread_time()
    for verdict in engine.iter_verdicts(proposals, wb.snapshot, wb.inputs):
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
        verdicts.append(verdict)
        t0, c0 = time.perf_counter(), time.thread_time()
    return wall, cpu, verdicts


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(wb: Workbench, batch: int, repeats: int, singles: int) -> dict:
    policy = load_policy((PACKS_DIR / "default.yaml").read_text(), "default.yaml")
    engine = RulePolicyEngine(policy)
    proposals = make_proposals(wb.snapshot, batch)
    engine.evaluate(proposals[:50], wb.snapshot, wb.inputs)  # warm caches
    facts_s = []
    for _ in range(max(5, repeats)):
        t0 = time.perf_counter()
        ClusterFacts.from_snapshot(wb.snapshot)
        facts_s.append(time.perf_counter() - t0)
    batch_s, verdicts = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        verdicts = engine.evaluate(proposals, wb.snapshot, wb.inputs)
        batch_s.append(time.perf_counter() - t0)
    tick = proposals[:50]
    tick_s = []
    for _ in range(repeats * 4):
        t0 = time.perf_counter()
        engine.evaluate(tick, wb.snapshot, wb.inputs)
        tick_s.append(time.perf_counter() - t0)
    single_s = []
    for p in proposals[:singles]:
        t0 = time.perf_counter()
        engine.evaluate([p], wb.snapshot, wb.inputs)
        single_s.append(time.perf_counter() - t0)
    inner_s, inner_cpu, inner_verdicts = per_verdict_in_batch(engine, wb, proposals)
    assert [v.model_dump() for v in inner_verdicts] == [v.model_dump() for v in verdicts]
    cel = cel_evaluations(policy, wb, proposals)
    best, facts = min(batch_s), statistics.median(facts_s)
    decisions = Counter(v.decision for v in verdicts)
    cel_fired = sum(1 for v in verdicts if any(h.rule in CEL_RULES for h in v.rules + v.shadow))
    deciding = Counter(h.rule for v in verdicts for h in v.rules)
    return {
        "batch": batch,
        "repeats": repeats,
        "verdicts_per_s": batch / best,
        "verdicts_per_s_median": batch / statistics.median(batch_s),
        "batch_s_best": best,
        "facts_ms": facts * 1e3,
        "facts_share": facts / best,
        "verdicts_per_s_without_facts": batch / (best - facts),
        "tick50_verdicts_per_s": 50 / min(tick_s),
        "single_p50_ms": _pct(single_s, 0.50) * 1e3,
        "single_p99_ms": _pct(single_s, 0.99) * 1e3,
        "single_n": len(single_s),
        "in_batch_mean_us": (best - facts) / batch * 1e6,
        "in_batch_p50_us": _pct(inner_s, 0.50) * 1e6,
        "in_batch_p99_us": _pct(inner_s, 0.99) * 1e6,
        "in_batch_cpu_p50_us": _pct(inner_cpu, 0.50) * 1e6,
        "in_batch_cpu_p99_us": _pct(inner_cpu, 0.99) * 1e6,
        "decisions": {k: decisions.get(k, 0) for k in ("allow", "deny", "needs_approval")},
        "kinds": dict(Counter(p.action.kind for p in proposals)),
        "deciding_rules": dict(deciding.most_common()),
        "cel_evaluations": dict(cel),
        "cel_fired_verdicts": cel_fired,
    }


# -- report -----------------------------------------------------------------------------


def report(wb: Workbench, r: dict, machine: str) -> None:
    snap = wb.snapshot
    replicas = sum(len(d.replica_states) for d in snap.deployments)
    console = Console()
    console.print(
        f"openb snapshot: {len(snap.nodes):,} nodes, {snap.total_gpus():,} GPUs, "
        f"{len(snap.deployments)} deployments, {replicas:,} replicas "
        f"({wb.pods_pending} pending), {snap.allocated_gpus():,} GPUs desired"
    )
    t = Table(title=f"policy: default pack on the openb cluster ({machine})")
    t.add_column("measure")
    t.add_column("value", justify="right")
    rows = [
        (f"verdicts / s, batch of {r['batch']:,} (best of {r['repeats']})", r["verdicts_per_s"]),
        ("verdicts / s, same, median", r["verdicts_per_s_median"]),
        ("verdicts / s, batch of 50 (one busy tick)", r["tick50_verdicts_per_s"]),
        ("verdicts / s, batch of 2,000 minus facts", r["verdicts_per_s_without_facts"]),
        ("ClusterFacts.from_snapshot ms / call", r["facts_ms"]),
        ("facts share of the 2,000 batch", r["facts_share"]),
        (f"single-proposal evaluate() p50 ms (n={r['single_n']})", r["single_p50_ms"]),
        ("single-proposal evaluate() p99 ms", r["single_p99_ms"]),
        ("per verdict within a batch, mean µs", r["in_batch_mean_us"]),
        ("per verdict within a batch, p50 µs", r["in_batch_p50_us"]),
        ("per verdict within a batch, p99 µs", r["in_batch_p99_us"]),
        ("per verdict within a batch, CPU p50 µs", r["in_batch_cpu_p50_us"]),
        ("per verdict within a batch, CPU p99 µs", r["in_batch_cpu_p99_us"]),
    ]
    for name, value in rows:
        t.add_row(name, f"{value:.3f}" if value < 10 else f"{value:,.0f}")
    console.print(t)
    console.print(f"decisions: {r['decisions']}  kinds: {r['kinds']}")
    console.print(
        f"CEL evaluations: {r['cel_evaluations']}; verdicts where a CEL rule fired: "
        f"{r['cel_fired_verdicts']}"
    )
    console.print(f"deciding rules: {r['deciding_rules']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="openb folder")
    parser.add_argument("--batch", type=int, default=2000, help="proposals per evaluate()")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--singles", type=int, default=500, help="single-proposal calls")
    parser.add_argument("--fill", type=float, default=0.9, help="share of GPUs to fill")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    wb = build_workbench(args.data, args.fill)
    build_s = time.perf_counter() - t0
    r = measure(wb, args.batch, args.repeats, args.singles)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    met = r["verdicts_per_s"] >= TARGET_VERDICTS_PER_S
    targets = [
        {
            "name": "default pack verdicts per second (1,213-node openb cluster)",
            "value": round(r["verdicts_per_s"], 1),
            "target": f">= {TARGET_VERDICTS_PER_S}",
            "met": met,
        },
        {
            "name": "single-proposal evaluate() latency p50 ms (incl. per-call facts)",
            "value": round(r["single_p50_ms"], 3),
            "target": "report",
            "met": True,
        },
        {
            "name": "single-proposal evaluate() latency p99 ms (incl. per-call facts)",
            "value": round(r["single_p99_ms"], 3),
            "target": "report",
            "met": True,
        },
    ]
    if args.json:
        snap = wb.snapshot
        result = {
            "benchmark": "policy",
            "machine": machine,
            "nodes": len(snap.nodes),
            "gpus": snap.total_gpus(),
            "deployments": len(snap.deployments),
            "replicas": sum(len(d.replica_states) for d in snap.deployments),
            "build_s": round(build_s, 2),
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()},
            "targets": targets,
        }
        print(json.dumps(result))
    else:
        report(wb, r, machine)
        Console().print(f"snapshot built in {build_s:.1f} s")
        for t in targets:
            verdict = "MET" if t["met"] else "NOT MET"
            Console().print(f"target {t['name']}: {t['value']} ({t['target']}) {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
