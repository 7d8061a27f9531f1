"""`gpusteward whatif --load 2x` on servegen-14d's last day (issue 26, item 3).

Times the what-if as the command runs it (the window at 2x the load with the scenario's
planner, policy and cluster after an hour's warm-up, the sizing, the answer and the HTML
page), then checks its answer, the GPUs that would hold the SLO, against the oracle
planner at the same load on an unbounded cluster of the same GPU types (judged by hard
limits only): the oracle must hold every SLO, and the sizing's peak GPUs must be within
10 % of the oracle's (per model within one replica).

    python benchmarks/whatif.py [--scenario servegen-14d] [--load 2x] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from benchmarks.targets import exit_status, host, print_targets, target
from gpusteward.app.whatif.answer import answer, sizing_error, summary_lines, to_json
from gpusteward.app.whatif.load import oracle_check, parse_load, question, run_whatif
from gpusteward.app.whatif.page import write_whatif_page
from gpusteward.core.logs import configure_logging

TARGET_WALL_S = 60.0
MAX_SIZING_ERROR = 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="servegen-14d")
    parser.add_argument("--load", default="2x")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configure_logging("error", "json")
    started, cpu = time.perf_counter(), time.process_time()
    q, _ = question(args.scenario, parse_load(args.load), None)
    run = run_whatif(q)
    result = answer(run)
    with tempfile.TemporaryDirectory() as tmp:
        write_whatif_page(run, result, Path(tmp))
    wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    checked = time.perf_counter()
    result.oracle = oracle_check(run)
    oracle_s = time.perf_counter() - checked
    oracle = result.oracle
    error = sizing_error(result)
    held = {k: oracle.attainment.get(k, 1.0) >= t for k, t in result.targets.items()}
    per_model = {n.key: n.peak_gpus - oracle.peak_gpus_by_model.get(n.key, 0) for n in result.needs}
    machine = host()
    targets = [
        target(
            f"whatif --load {args.load} on {args.scenario}'s last day: wall seconds",
            round(wall, 1),
            f"<= {TARGET_WALL_S:.0f}",
            wall <= TARGET_WALL_S,
        ),
        target(
            "GPUs needed to hold the SLO vs the oracle planner's peak GPUs (relative)",
            round(error, 4),
            f"|x| <= {MAX_SIZING_ERROR}",
            abs(error) <= MAX_SIZING_ERROR,
        ),
        target(
            "per model: GPUs needed minus the oracle's (largest difference)",
            max((abs(v) for v in per_model.values()), default=0),
            "<= 1",
            all(abs(v) <= 1 for v in per_model.values()),
        ),
        target(
            "the oracle at that size holds every SLO",
            min(oracle.attainment.values(), default=1.0),
            ">= each model's attainment target",
            all(held.values()),
        ),
    ]
    out = {
        "benchmark": "whatif",
        "scenario": args.scenario,
        "machine": machine,
        "whatif_wall_s": round(wall, 2),
        "whatif_cpu_s": round(cpu_s, 2),
        "oracle_check_wall_s": round(oracle_s, 2),
        "answer": to_json(result, wall),
        "targets": targets,
    }
    if args.json:
        print(json.dumps(out))
    else:
        console = Console()
        for line in summary_lines(result):
            console.print(line, highlight=False)
        console.print(
            f"what-if: {wall:.1f} s wall, {cpu_s:.1f} s CPU; oracle check: {oracle_s:.1f} s "
            f"({machine})"
        )
        print_targets(console, targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
