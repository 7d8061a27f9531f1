"""Simulator speed: servegen-14d (14 days, 2 models) at 60 s ticks with the reactive planner.

Runs the whole daemon (observe, forecast, plan, guard, act, record into a SQLite journal)
on the virtual clock, and the simulator alone for comparison, in one process.
Target (issue 2): the full run finishes in <= 60 s wall on a 2-core machine.

    python benchmarks/sim_speed.py [--scenario servegen-14d] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.targets import exit_status, host, print_targets, target
from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import load_settings
from gpusteward.app.wiring_sim import build_sim_run
from gpusteward.core.logs import configure_logging
from gpusteward.sim.engine import Simulator

TARGET_WALL_S = 60.0


def run_daemon(name: str, journal: Path) -> tuple[float, int, object]:
    scenario = load_scenario(name)
    settings = load_settings(scenario=name, journal=journal)
    sim = build_sim_run(scenario, settings, fresh=True)
    started = time.perf_counter()
    with sim.journal:
        stats = asyncio.run(sim.daemon.run(tick_first=False))
    return time.perf_counter() - started, stats.ticks, stats.last_snapshot


def run_sim_only(name: str) -> tuple[float, int]:
    scenario = load_scenario(name)
    simulator = Simulator(scenario.sim_spec())
    step = timedelta(seconds=scenario.tick_seconds)
    when, ticks = scenario.start, 0
    started = time.perf_counter()
    while when + step <= scenario.end:
        when += step
        simulator.advance_to(when)
        simulator.snapshot()
        ticks += 1
    return time.perf_counter() - started, ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="servegen-14d")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "bench.db"
        daemon_s, ticks, _ = run_daemon(args.scenario, journal)
        journal_mib = journal.stat().st_size / 2**20 if journal.exists() else 0.0
    sim_s, sim_ticks = run_sim_only(args.scenario)
    machine = host()
    targets = [
        target(
            f"{args.scenario} full daemon wall seconds (60 s ticks, reactive planner)",
            round(daemon_s, 2),
            f"<= {TARGET_WALL_S:.0f}",
            daemon_s <= TARGET_WALL_S,
        ),
    ]
    result = {
        "benchmark": "sim_speed",
        "scenario": args.scenario,
        "machine": machine,
        "ticks": ticks,
        "daemon_wall_s": round(daemon_s, 3),
        "daemon_ticks_per_s": round(ticks / daemon_s, 1),
        "sim_only_wall_s": round(sim_s, 3),
        "sim_only_ticks_per_s": round(sim_ticks / sim_s, 1),
        "sim_share_of_daemon": round(sim_s / daemon_s, 3),
        "journal_mib": round(journal_mib, 1),
        "targets": targets,
    }
    if args.json:
        print(json.dumps(result))
    else:
        table = Table(title=f"sim_speed: {args.scenario} ({machine})")
        for col in ("run", "ticks", "wall s", "ticks / s", "vs daemon"):
            table.add_column(col, justify="left" if col == "run" else "right")
        table.add_row(
            "full daemon + journal",
            f"{ticks:,}",
            f"{daemon_s:.2f}",
            f"{ticks / daemon_s:,.0f}",
            "1.00",
        )
        table.add_row(
            "simulator alone",
            f"{sim_ticks:,}",
            f"{sim_s:.2f}",
            f"{sim_ticks / sim_s:,.0f}",
            f"{sim_s / daemon_s:.2f}",
        )
        console = Console()
        console.print(table)
        print_targets(console, targets)
        console.print(f"journal size: {journal_mib:.1f} MiB")
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
