"""The FGD paper's placement protocol on the openb traces, for `benchmarks/placement.py`.

As in the artifact (`hkust-adsl/kubernetes-scheduler-simulator`, `experiments/` and
`pkg/simulator`): the cluster is `openb_node_list_gpu_node.csv` (1,213 nodes, 6,212
GPUs); the workload is every pod of a trace, CPU-only pods included, in name order. Per
seed: shuffle the pods, then append pods drawn uniformly with replacement from the
workload until the next one would push the GPU requests past 130 % of the cluster's GPU
capacity (the artifact's `tuneUpPods`, which compares the draw's per-GPU share); place
them one by one, never removing any. A pod that fits nowhere fails and is not retried.
The typical-task mix for fragmentation is computed from the workload (95 % coverage, or
the coverage the policy asks for: `mix_coverage`; the reported fragmentation ratio
always uses 95 %).
The allocation ratio at X % is the mean, over the pods whose arrival brought the
requested GPUs to X % (rounded), of the allocated share of all GPUs (the artifact's
`merge_alloc_discrete`).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.placement.catalog import make_policy, mix_coverage
from agents.placement.engine import PlacementEngine
from agents.placement.fragmentation import WorkloadMix, fragmentation_report
from agents.placement.model import ClusterState, NodeSpec, PlacementRequest

NODE_FILE = "openb_node_list_gpu_node.csv"
TUNE_RATIO = 1.3
REPORT_AT = (50, 70, 80, 90, 100, 110, 120, 130)
GPU_MEMORY_GIB = {"P100": 16, "T4": 16, "V100M16": 16, "V100M32": 32, "A10": 24, "G2": 32}


class DataMissing(SystemExit):
    """The openb folder or a trace is absent; the message names the path and the fix."""


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataMissing(
            f"{path}: not found. Fix: pass --data pointing at the openb folder "
            "(../shared/data/openb, see ../shared/data/README.md)."
        )
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_nodes(data: Path) -> list[NodeSpec]:
    return [
        NodeSpec(
            name=r["sn"],
            gpus=int(r["gpu"]),
            gpu_type=r["model"],
            cpu_milli=int(r["cpu_milli"]),
            memory_mib=int(r["memory_mib"]),
            gpu_memory_gib=GPU_MEMORY_GIB.get(r["model"], 32),
        )
        for r in _read(data / NODE_FILE)
    ]


def load_pods(data: Path, trace: str) -> list[PlacementRequest]:
    rows = sorted(_read(data / f"{trace}.csv"), key=lambda r: r["name"])
    pods = []
    for r in rows:
        gpus = int(r["num_gpu"])
        spec = r.get("gpu_spec", "") or ""
        pods.append(
            PlacementRequest(
                name=r["name"],
                gpus=gpus,
                gpu_milli=int(r["gpu_milli"]) if gpus else 0,
                cpu_milli=int(r["cpu_milli"]),
                memory_mib=int(r["memory_mib"]),
                gpu_types=frozenset(t for t in spec.split("|") if t),
            )
        )
    return pods


def arrivals(
    pods: list[PlacementRequest], capacity_milli: int, seed: int
) -> list[PlacementRequest]:
    """Shuffled workload, topped up by uniform draws to `TUNE_RATIO` of GPU capacity."""
    rng = np.random.default_rng(seed)
    order = [pods[i] for i in rng.permutation(len(pods))]
    total = sum(p.total_milli for p in pods)
    target = TUNE_RATIO * capacity_milli
    if total > target:  # the artifact's tuneDownPods: drop random pods until under
        while total > target:
            total -= order.pop(int(rng.integers(len(order)))).total_milli
        return order
    while True:
        draw = pods[int(rng.integers(len(pods)))]
        if total + draw.milli > target:
            return order
        total += draw.total_milli
        order.append(draw)


@dataclass(frozen=True)
class RunResult:
    trace: str
    policy: str
    seed: int
    pods: int
    failed: int
    seconds: float
    alloc_at: dict[int, float]  # arrived % -> allocation %
    frag_ratio: float  # fragmentation ratio (0-1) of the final state

    @property
    def final(self) -> float:
        return self.alloc_at.get(130, float("nan"))


def run(
    nodes: list[NodeSpec],
    pods: list[PlacementRequest],
    trace: str,
    policy_name: str,
    seed: int,
    mix: WorkloadMix | None = None,
    tie_break: str = "node-order",
) -> RunResult:
    """One seed; `mix` is the policy's typical-task mix (default: from `pods`)."""
    state = ClusterState.empty(nodes)
    mix = mix or WorkloadMix.from_requests(pods, mix_coverage(policy_name))
    engine = PlacementEngine(
        state, make_policy(policy_name, mix, state), seed=seed + 7919, tie_break=tie_break
    )
    stream = arrivals(pods, state.total_gpu_milli(), seed)
    cap = state.total_gpu_milli()
    arrived = used = failed = 0
    buckets: dict[int, list[float]] = {}
    started = time.perf_counter()
    for pod in stream:
        arrived += pod.total_milli
        placement = engine.place(pod)
        if placement.placed:
            used += pod.total_milli
        else:
            failed += 1
        bucket = int(np.round(100.0 * arrived / cap))
        if bucket in REPORT_AT:
            buckets.setdefault(bucket, []).append(100.0 * used / cap)
    seconds = time.perf_counter() - started
    report = fragmentation_report(state, WorkloadMix.from_requests(pods))
    alloc = {k: float(np.mean(v)) for k, v in buckets.items()}
    return RunResult(
        trace, policy_name, seed, len(stream), failed, seconds, alloc, report.fragmentation_ratio
    )
