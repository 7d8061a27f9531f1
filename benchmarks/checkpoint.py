"""Checkpoint cost: what writing the daemon's per-tick checkpoint costs, schema version 2
(column-wise rows) against version 1 (every row as tagged values), in one process.

Runs the forecast planner (the product's) on a simulated scenario with a SQLite journal,
as `gpusteward run` does, for `--days`; then, on the planner's memory at the end of the
run (the largest it grew), writes the checkpoint both ways, alternating, and reads each
back. The run's own CPU and wall time are printed beside them, for scale.

    python -m benchmarks.checkpoint [--scenario servegen-14d] [--days 2] [--json]

Targets: version 2 and version 1 read back to the memory the planner holds; version 2 is
no slower to write than version 1 (issue 23 asks for the state as versioned data, and
that it cost the tick loop no more than it must).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import gpusteward.core.remembered as remembered
from benchmarks.targets import exit_status, host, print_targets, target
from gpusteward.app.replay_setup import planner_config
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import load_settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.core.logs import configure_logging
from gpusteward.daemon.resume import load_checkpoint, planner_state, write_checkpoint

ROUNDS = 7  # alternating rounds of each way; the median is reported


def _as_version_1(write: Callable[[], bytes]) -> bytes:
    """`write()` with rows written item by item, as schema version 1 did."""
    kept = remembered._ROWS_FROM
    remembered._ROWS_FROM = sys.maxsize
    try:
        return write()
    finally:
        remembered._ROWS_FROM = kept


def _cpu_ms(call: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        call()
    return (time.process_time() - started) / repeat * 1000


def measure(name: str, days: float, journal: Path) -> dict[str, Any]:
    scenario = load_scenario(name)
    scenario = scenario.model_copy(
        update={
            "planner": planner_config("forecast", own=scenario.planner),
            "duration": int(min(days * 86_400, scenario.duration_seconds)),
        }
    )
    settings = load_settings(scenario=name, journal=journal)
    run = build_sim_run(scenario, settings, fresh=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with run.journal:
        stats = asyncio.run(run.daemon.run(tick_first=False))
    run_cpu, run_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    planner, seq, at = run.daemon.planner, stats.ticks, scenario.end

    def write() -> bytes:
        return write_checkpoint(seq, at, planner, None)

    v1, v2 = _as_version_1(write), write()
    restored = []
    for data in (v1, v2):
        fresh = copy.deepcopy(planner)
        fresh.restore(load_checkpoint(data).planner or {})
        restored.append(planner_state(fresh))
    same = restored[0] == restored[1] == planner_state(planner)
    repeat = 20
    w1, w2, r1, r2 = [], [], [], []
    for _ in range(ROUNDS):
        w1.append(_cpu_ms(lambda: _as_version_1(write), repeat))
        w2.append(_cpu_ms(write, repeat))
        r1.append(_cpu_ms(lambda: load_checkpoint(v1), repeat))
        r2.append(_cpu_ms(lambda: load_checkpoint(v2), repeat))
    return {
        "scenario": name,
        "days": days,
        "ticks": seq,
        "run_cpu_s": round(run_cpu, 1),
        "run_wall_s": round(run_wall, 1),
        "v1": {
            "bytes": len(v1),
            "write_ms": round(statistics.median(w1), 2),
            "read_ms": round(statistics.median(r1), 2),
        },
        "v2": {
            "bytes": len(v2),
            "write_ms": round(statistics.median(w2), 2),
            "read_ms": round(statistics.median(r2), 2),
        },
        "same_memory": same,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="servegen-14d")
    parser.add_argument("--days", type=float, default=2.0, help="simulated days (2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not 0 < args.days <= 14:
        parser.error(f"--days {args.days:g}: give 0 < days <= 14 (the run's simulated length)")
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        r = measure(args.scenario, args.days, Path(tmp) / "journal.db")
    v1, v2 = r["v1"], r["v2"]
    ratio = v1["write_ms"] / v2["write_ms"] if v2["write_ms"] else float("inf")
    targets = [
        target(
            "version 2 reads back the same memory as version 1",
            r["same_memory"],
            "true",
            r["same_memory"],
        ),
        target("write CPU, version 1 / version 2", round(ratio, 2), "> 1", ratio > 1),
    ]
    if args.json:
        print(json.dumps({**r, "host": host(), "targets": targets}))
        return exit_status(targets)
    console = Console()
    table = Table(
        title=f"checkpoint at the end of {r['days']:g} days of {r['scenario']} "
        f"({r['ticks']} ticks, forecast planner)"
    )
    for col in ("schema version", "bytes", "write (ms CPU)", "read (ms CPU)"):
        table.add_column(col, justify="right")
    for name, v in (("1 (row by row)", v1), ("2 (rows as columns)", v2)):
        table.add_row(name, f"{v['bytes']:,}", f"{v['write_ms']:.2f}", f"{v['read_ms']:.2f}")
    console.print(table)
    console.print(f"the run: {r['run_cpu_s']} s CPU, {r['run_wall_s']} s wall ({host()})")
    print_targets(console, targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
