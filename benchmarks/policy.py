"""Policy engine speed: default-pack verdicts per second on the real 1,213-node Alibaba cluster.

Builds one `ClusterSnapshot` from the openb trace (`../shared/data/openb`: 1,213 GPU
nodes, 6,212 GPUs; the GPU pods of `openb_pod_list_default.csv` packed first-fit),
guard inputs (a forecast and three days of 60 s load history per deployment, 200 recent
actions) and a seeded mix of proposals, then times `RulePolicyEngine.evaluate`.
Target (issue 4): >= 10,000 verdicts/s with the default pack (two CEL rules); p50 / p99
latency per verdict reported.

The cluster and the assumptions behind it (GPU memory and price per model, sharing pods
as whole replicas, deployments by request shape) are `benchmarks/openb_cluster.py`'s.

    python benchmarks/policy.py [--data DIR] [--batch 2000] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gpusteward.core.actions import Proposal
from gpusteward.core.verdicts import Verdict
from policies.document import PACKS_DIR
from policies.engine import PolicySet, RulePolicyEngine, load_policy
from policies.facts import ClusterFacts

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root, for its sibling
    sys.path.insert(0, str(ROOT))

from benchmarks.openb_cluster import (  # noqa: E402
    DEFAULT_DATA,
    Workbench,
    build_workbench,
    make_proposals,
)
from benchmarks.targets import exit_status, host, print_targets, target  # noqa: E402

TARGET_VERDICTS_PER_S = 10_000
CEL_RULES = ("critical-off-spot", "wide-scale-down")


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
    machine = host()
    met = r["verdicts_per_s"] >= TARGET_VERDICTS_PER_S
    targets = [
        target(
            "default pack verdicts per second (1,213-node openb cluster)",
            round(r["verdicts_per_s"], 1),
            f">= {TARGET_VERDICTS_PER_S}",
            met,
        ),
        target(
            "single-proposal evaluate() latency p50 ms (incl. per-call facts)",
            round(r["single_p50_ms"], 3),
            "report",
            True,
        ),
        target(
            "single-proposal evaluate() latency p99 ms (incl. per-call facts)",
            round(r["single_p99_ms"], 3),
            "report",
            True,
        ),
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
        print_targets(Console(), targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
