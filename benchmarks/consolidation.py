"""Consolidation against an exact optimum on simulated fragmented clusters.

Each instance: 10 nodes (8 x 8-GPU A100, 2 x 4-GPU L4 — or all one type), filled to a
random 35-60 % with replicas of 1, 2 or 4 GPUs of 8 deployments placed at random (so
the cluster is fragmented); a third of the deployments only run on A100. The planner
(`agents.consolidation.plan_consolidation`) is compared with `optimal_free_gpus` (an
exact search over every set of nodes to keep and every packing: the most GPUs that any
re-assignment frees, however many moves it takes). Each plan is then replayed move by
move (start new, wait for the cold start, stop old): a violation is a move whose target
has no free GPUs while the old replica still runs, or a deployment whose ready replicas
dip below what it had (its SLO capacity).

Target (issue 8): the plans free >= 80 % of the GPUs the optimum frees (summed over the
instances), with no violation.

    python benchmarks/consolidation.py [--instances 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.consolidation import (  # noqa: E402
    Bin,
    Item,
    optimal_free_gpus,
    plan_consolidation,
    replay_moves,
)
from gpusteward.core.cluster import Pool  # noqa: E402

TARGET_SHARE = 0.8


def instance(seed: int) -> tuple[list[Bin], list[Item]]:
    rng = random.Random(seed)
    mixed = seed % 2 == 0
    bins = [Bin(f"a100-{i}", 8, "A100", Pool.ON_PREM) for i in range(8)]
    bins += [
        Bin(
            f"{'l4' if mixed else 'a100'}-x{i}",
            4 if mixed else 8,
            "L4" if mixed else "A100",
            Pool.ON_PREM,
        )
        for i in range(2)
    ]
    free = {b.name: b.gpus for b in bins}
    fill = rng.uniform(0.35, 0.6) * sum(b.gpus for b in bins)
    items: list[Item] = []
    while sum(i.gpus for i in items) < fill:
        dep = rng.randrange(8)
        size = (1, 1, 2, 4)[rng.randrange(4)]
        types = ("A100",) if dep % 3 == 0 else ()
        options = [b for b in bins if free[b.name] >= size and (not types or b.gpu_type in types)]
        if not options:
            break
        b = rng.choice(options)
        free[b.name] -= size
        items.append(
            Item(
                f"r{len(items)}",
                f"serving/m{dep}",
                size,
                b.name,
                gpu_types=types,
                cold_start_seconds=120.0,
            )
        )
    return bins, items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    planned = optimum = moves = violations = 0
    worst = 1.0
    plan_s = exact_s = 0.0
    for seed in range(args.instances):
        bins, items = instance(seed)
        t0 = time.perf_counter()
        plan = plan_consolidation(bins, items)
        t1 = time.perf_counter()
        best = optimal_free_gpus(bins, items)
        t2 = time.perf_counter()
        plan_s, exact_s = plan_s + t1 - t0, exact_s + t2 - t1
        audit = replay_moves(bins, items, plan)
        planned += plan.gpus_freed
        optimum += best
        moves += len(plan.moves)
        violations += len(audit.violations)
        if best:
            worst = min(worst, plan.gpus_freed / best)
    share = planned / optimum if optimum else 1.0
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    targets = [
        {
            "name": "GPUs freed by the plans / by the exact optimum (sum over instances)",
            "value": round(share, 3),
            "target": f">= {TARGET_SHARE}",
            "met": share >= TARGET_SHARE,
        },
        {
            "name": "capacity dips or blocked moves when the plans are replayed",
            "value": violations,
            "target": "== 0",
            "met": violations == 0,
        },
    ]
    result = {
        "benchmark": "consolidation",
        "machine": machine,
        "instances": args.instances,
        "gpus_freed_plan": planned,
        "gpus_freed_optimum": optimum,
        "worst_instance_share": round(worst, 3),
        "moves": moves,
        "moves_per_gpu_freed": round(moves / planned, 3) if planned else None,
        "plan_ms_mean": round(1000 * plan_s / args.instances, 2),
        "exact_ms_mean": round(1000 * exact_s / args.instances, 2),
        "targets": targets,
    }
    if args.json:
        print(json.dumps(result))
    else:
        console = Console()
        for k, v in result.items():
            if k != "targets":
                console.print(f"{k}: {v}")
        for t in targets:
            verdict = "MET" if t["met"] else "NOT MET"
            console.print(f"target {t['name']}: {t['value']} (target {t['target']}) {verdict}")
    return 0 if all(t["met"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
