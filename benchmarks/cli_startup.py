"""CLI start-up: `gpusteward --help` and every sub-command's `--help`, each a fresh process.

The commands are found by walking the app's command tree in a child process (so a new
command is measured without editing this file, and this file imports no CLI code). Each
`--help` runs `--repeats` times, round-robin over the commands so that a burst of load
on a shared machine spreads over all of them; the figure per command is the median wall
time from process start to exit. The bare interpreter (`python -c pass`) is measured the
same way, as the floor. The load average before and after is printed beside the table:
on a busy 2-core machine the wall times scale with it, so the CPU seconds (user + system)
of each process are shown too, a figure the other work on the machine hardly moves.
Target (issue 23): every median <= 1.0 s.

    python -m benchmarks.cli_startup [--repeats 5] [--launcher gpusteward] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.targets import host, target

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
PATIENCE_S = 120.0  # one --help on a machine that is very busy indeed

# prints the command paths of the app, one JSON list ("" is `gpusteward` itself)
COMMAND_TREE = """
import json
import typer.main
from gpusteward.cli.main import app

def paths(command, prefix):
    yield " ".join(prefix)
    if hasattr(command, "list_commands"):  # a group
        ctx = command.context_class(command)
        for name in command.list_commands(ctx):
            yield from paths(command.get_command(ctx, name), [*prefix, name])

print(json.dumps(list(paths(typer.main.get_command(app), []))))
"""


def command_paths() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", COMMAND_TREE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
    )
    if done.returncode != 0:
        raise SystemExit(f"cli_startup: listing the commands failed:\n{done.stderr}")
    paths: list[str] = json.loads(done.stdout)
    return paths


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(argv: list[str], expect_help: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one process, start to exit; it must succeed (and print a
    usage)."""
    env = {**os.environ, "COLUMNS": "100"}
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=PATIENCE_S
    )
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode != 0 or (expect_help and "Usage:" not in done.stdout):
        raise SystemExit(
            f"cli_startup: `{shlex.join(argv)}` exited {done.returncode} without a usage; "
            f"its output:\n{done.stdout}{done.stderr}"
        )
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    parser.add_argument(
        "--launcher",
        default=f"{shlex.quote(sys.executable)} -m gpusteward.cli.main",
        help="how to start the CLI (default: this Python, -m gpusteward.cli.main); e.g. "
        "`gpusteward` for the installed script",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: at least 1 run per command is needed")
    launcher = shlex.split(args.launcher)
    paths = command_paths()
    load_before = os.getloadavg()
    floor: list[tuple[float, float]] = []
    runs: dict[str, list[tuple[float, float]]] = {p: [] for p in paths}
    for _ in range(args.repeats):
        floor.append(timed([sys.executable, "-c", "pass"], expect_help=False))
        for path in paths:
            runs[path].append(timed([*launcher, *path.split(), "--help"], expect_help=True))
    load_after = os.getloadavg()
    medians = {p: statistics.median(w for w, _ in s) for p, s in runs.items()}
    cpu = {p: statistics.median(c for _, c in s) for p, s in runs.items()}
    slowest = {p: max(w for w, _ in s) for p, s in runs.items()}
    floor_wall = statistics.median(w for w, _ in floor)
    floor_cpu = statistics.median(c for _, c in floor)
    worst = max(medians, key=lambda p: medians[p])
    name = {p: f"gpusteward {p} --help" if p else "gpusteward --help" for p in paths}
    machine = host()
    targets = [
        target(
            "gpusteward --help median wall seconds",
            round(medians[""], 3),
            f"<= {TARGET_S}",
            medians[""] <= TARGET_S,
        ),
        target(
            f"slowest of {len(paths)} --help medians, wall seconds ({name[worst]})",
            round(medians[worst], 3),
            f"<= {TARGET_S}",
            medians[worst] <= TARGET_S,
        ),
    ]
    result = {
        "benchmark": "cli_startup",
        "machine": machine,
        "launcher": args.launcher,
        "repeats": args.repeats,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "interpreter_median_s": round(floor_wall, 3),
        "interpreter_cpu_median_s": round(floor_cpu, 3),
        "commands": {
            name[p]: {
                "median_s": round(medians[p], 3),
                "max_s": round(slowest[p], 3),
                "cpu_median_s": round(cpu[p], 3),
            }
            for p in paths
        },
        "targets": targets,
    }
    if args.json:
        print(json.dumps(result))
    else:
        table = Table(title=f"cli_startup: {args.repeats} runs each ({machine})")
        for col in ("command", "median s", "max s", "CPU s (median)"):
            table.add_column(col, justify="left" if col == "command" else "right")
        table.add_row(
            "python -c pass (the floor)",
            f"{floor_wall:.3f}",
            f"{max(w for w, _ in floor):.3f}",
            f"{floor_cpu:.3f}",
        )
        for p in sorted(paths, key=lambda p: -medians[p]):
            table.add_row(name[p], f"{medians[p]:.3f}", f"{slowest[p]:.3f}", f"{cpu[p]:.3f}")
        console = Console()
        console.print(table)
        console.print(
            f"load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in load_before)}; "
            f"after {', '.join(f'{x:.2f}' for x in load_after)}",
            highlight=False,
        )
        for t in targets:
            console.print(
                f"target {t['name']}: {t['value']} (target {t['target']}) "
                f"{'MET' if t['met'] else 'NOT MET'}",
                highlight=False,
            )
    return 0 if all(t["met"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
