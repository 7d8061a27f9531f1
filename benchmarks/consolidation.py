"""Consolidation against an exact optimum on simulated fragmented clusters.

Each instance: 10 nodes (8 x 8-GPU A100, 2 x 4-GPU L4 — or all one type), filled to a
random 35-60 % with replicas of 1, 2 or 4 GPUs of 8 deployments placed at random (so
the cluster is fragmented); a third of the deployments only run on A100. The planner
(`agents.placement.consolidation_plan.plan_consolidation`) is compared with `optimal_free_gpus` (an
exact search over every set of nodes to keep and every packing: the most GPUs that any
re-assignment frees, however many moves it takes). Each plan is then replayed move by
move (start new, wait for the cold start, stop old): a violation is a move whose target
has no free GPUs while the old replica still runs, or a deployment whose ready replicas
dip below what it had (its SLO capacity).

Then the same planner runs in the real simulator (`--sim-instances`, default 8): a
10-node cluster fragmented by scaling 6 deployments (1, 2 and 4 GPUs per replica) up and
back down at random; each tick the `ConsolidationPlanner`'s proposals (`MoveReplica`
waves and `CordonNode`s) are executed and the simulator steps on. Checked at every step:
no deployment has fewer Ready replicas than before the plan, no request is dropped or
served outside its SLO; at the end, the GPUs freed against `optimal_free_gpus` of the
starting snapshot.

Target (issue 8): the plans free >= 80 % of the GPUs the optimum frees (summed over the
instances), with no violation, in the model and in the simulator.

    python benchmarks/consolidation.py [--instances 40] [--sim-instances 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.consolidation import ConsolidationPlanner, in_flight  # noqa: E402
from agents.placement.consolidation_plan import (  # noqa: E402
    Bin,
    Item,
    bins_and_items,
    optimal_free_gpus,
    plan_consolidation,
    replay_moves,
)
from benchmarks.targets import exit_status, host, print_targets, target  # noqa: E402
from gpusteward.core.actions import ScaleDeployment  # noqa: E402
from gpusteward.core.cluster import Pool, ReplicaPhase, Slo  # noqa: E402
from gpusteward.core.verdicts import ResultStatus  # noqa: E402
from gpusteward.sim.engine import Simulator  # noqa: E402
from gpusteward.sim.spec import (  # noqa: E402
    ClusterSpec,
    ModelSpec,
    NodeGroupSpec,
    ProfileSpec,
    SimSpec,
    TraceSpec,
)

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


SIM_START = datetime(2026, 11, 2, tzinfo=UTC)


def sim_instance(seed: int, trace_dir: Path) -> Simulator:
    """A simulated 10-node cluster (8 x 8 A100, 2 x 4 L4) left fragmented by scaling six
    deployments to a random high count and, once Ready, back down to a random low one."""
    rng = random.Random(seed)
    trace = trace_dir / "constant.csv"
    if not trace.exists():
        trace.write_text("window_start_s,total_rate_rps,active_clients\n0,1.0,1\n")
    sizes = (1, 1, 2, 4, 1, 2)
    models = tuple(
        ModelSpec(
            name=f"m{i}",
            replicas=1,
            max_replicas=32,
            gpus_per_replica=size,
            gpu_memory_gib=20,
            cold_start_seconds=120,
            slo=Slo(queue_delay_seconds=2.0),
            profile=ProfileSpec(throughput_rps={"A100": 2.0, "L4": 1.0}),
            trace=TraceSpec(file=trace, scale=0.5, burstiness_cv=1.0),
        )
        for i, size in enumerate(sizes)
    )
    groups = (
        NodeGroupSpec(
            name="a100",
            count=8,
            gpu_type="A100",
            gpus_per_node=8,
            gpu_memory_gib=80,
            price_per_gpu_hour=2.0,
        ),
        NodeGroupSpec(
            name="l4",
            count=2,
            gpu_type="L4",
            gpus_per_node=4,
            gpu_memory_gib=24,
            price_per_gpu_hour=1.0,
        ),
    )
    spec = SimSpec(
        start=SIM_START,
        step_seconds=60.0,
        seed=seed,
        cluster=ClusterSpec(node_groups=groups),
        models=models,
    )
    sim = Simulator(spec)
    high = [rng.randint(2, max(2, 56 // (4 * s))) for s in sizes]
    for m, n in zip(models, high, strict=True):
        sim.execute(ScaleDeployment(issued_at=sim.now, deployment=m.key, replicas=n))
    for _ in range(4):
        sim.step()
    for m, n in zip(models, high, strict=True):
        low = rng.randint(1, max(1, n // 2))
        sim.execute(ScaleDeployment(issued_at=sim.now, deployment=m.key, replicas=low))
    for _ in range(4):
        sim.step()
    return sim


def run_in_simulator(sim: Simulator, max_ticks: int = 60) -> dict[str, Any]:
    """Execute the consolidation planner's proposals tick by tick until it has nothing left
    to do; audit every simulator step for capacity dips, drops and SLO misses."""
    snap = sim.snapshot()
    bins, items = bins_and_items(snap)
    optimum = optimal_free_gpus(bins, items)
    keys = [d.key for d in snap.deployments]
    ready_before = {k: sim.phase_counts(k)[ReplicaPhase.READY] for k in keys}
    tally0 = {
        k: (sim.tally(k).served, sim.tally(k).served_within_slo, sim.tally(k).dropped) for k in keys
    }
    planner = ConsolidationPlanner()
    violations: list[str] = []
    moves = ticks = 0
    for ticks in range(1, max_ticks + 1):
        snap = sim.snapshot()
        proposals = planner.plan(snap, {})
        if not proposals and not in_flight(snap):
            break
        for p in proposals:
            result = sim.execute(p.action)
            moves += p.action.kind == "move-replica"
            if result.status is not ResultStatus.APPLIED:
                violations.append(f"tick {ticks}: {result.message}")
        sim.step()
        for k in keys:
            ready = sim.phase_counts(k)[ReplicaPhase.READY]
            if ready < ready_before[k]:
                violations.append(f"tick {ticks}: {k} has {ready} Ready, had {ready_before[k]}")
    for k in keys:
        t = sim.tally(k)
        served = t.served - tally0[k][0]
        within = t.served_within_slo - tally0[k][1]
        dropped = t.dropped - tally0[k][2]
        if dropped or within < served:
            violations.append(f"{k}: {dropped} dropped, {served - within} served late")
    end = sim.snapshot()
    busy_before = {i.node for i in items}
    freed = sum(
        len(n.gpus)
        for n in end.nodes
        if n.name in busy_before and all(g.allocated_to is None for g in n.gpus)
    )
    return {
        "freed": freed,
        "optimum": optimum,
        "moves": moves,
        "ticks": ticks,
        "violations": violations,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--sim-instances", type=int, default=8)
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
    sim_freed = sim_optimum = sim_moves = 0
    sim_violations: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.sim_instances):
            run = run_in_simulator(sim_instance(seed, Path(tmp)))
            sim_freed += run["freed"]
            sim_optimum += run["optimum"]
            sim_moves += run["moves"]
            sim_violations += run["violations"]
    sim_share = sim_freed / sim_optimum if sim_optimum else 1.0
    machine = host()
    targets = [
        target(
            "GPUs freed by the plans / by the exact optimum (sum over instances)",
            round(share, 3),
            f">= {TARGET_SHARE}",
            share >= TARGET_SHARE,
        ),
        target(
            "capacity dips or blocked moves when the plans are replayed",
            violations,
            "== 0",
            violations == 0,
        ),
        target(
            "in the simulator: GPUs freed by executed MoveReplica waves / exact optimum",
            round(sim_share, 3),
            f">= {TARGET_SHARE}",
            sim_share >= TARGET_SHARE,
        ),
        target(
            "in the simulator: Ready dips, drops, SLO misses or failed actions",
            len(sim_violations),
            "== 0",
            not sim_violations,
        ),
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
        "sim_instances": args.sim_instances,
        "sim_gpus_freed": sim_freed,
        "sim_gpus_freed_optimum": sim_optimum,
        "sim_moves": sim_moves,
        "sim_violations": sim_violations[:10],
        "targets": targets,
    }
    if args.json:
        print(json.dumps(result))
    else:
        console = Console()
        for k, v in result.items():
            if k != "targets":
                console.print(f"{k}: {v}")
        print_targets(console, targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
