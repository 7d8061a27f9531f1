"""Capacity-at-SLO tables: the window search against the whole-grid loop, side by side.

Every forecast-driven planner builds one table (`agents.slo_capacity`) per burstiness
level it learns per model: some 30 on servegen-14d, hundreds on the model zoo. Before
issue 27's change a table ran the queue over the whole grid (41 loads x 161
utilisations, 8,000 steps); now a short screening run guesses where each load's answer
lies and the full-length run looks only at a window around it (`agents.slo_queue`). Per
case this builds the table both ways in one process, one after the other, and reports
the CPU seconds of each, their ratio, and whether the tables are identical.

    python benchmarks/slo_tables.py [--json]

Targets: every table identical to the whole grid's; the search at least 1.5x faster
over all cases (CPU time, so another process's load on the machine does not count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.slo_capacity import table_from_first_miss  # noqa: E402
from agents.slo_queue import first_miss, first_miss_full  # noqa: E402

# (cv, SLO / step, timeout / step, attainment): realtime (2 s SLO, 120 s timeout) and
# batch (60 s, 900 s) on a 60 s step, smooth to very bursty; the servegen-14d target.
CASES = [
    (0.5, 2 / 60, 2.0, 0.99),
    (1.5, 2 / 60, 2.0, 0.995),
    (3.0, 2 / 60, 2.0, 0.99),
    (8.0, 2 / 60, 2.0, 0.99),
    (1.5, 1.0, 15.0, 0.99),
    (6.0, 1.0, 15.0, 0.99),
]
TARGET_RATIO = 1.5


def run_case(cv: float, slo: float, timeout: float, target: float) -> dict[str, Any]:
    started = time.process_time()
    search = table_from_first_miss(first_miss(cv, slo, timeout, target))
    search_s = time.process_time() - started
    started = time.process_time()
    full = table_from_first_miss(first_miss_full(cv, slo, timeout, target))
    full_s = time.process_time() - started
    return {
        "cv": cv,
        "slo_over_step": round(slo, 4),
        "timeout_over_step": timeout,
        "attainment": target,
        "search_s": round(search_s, 2),
        "full_s": round(full_s, 2),
        "ratio": round(full_s / search_s, 2),
        "identical": search == full,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = [run_case(*c) for c in CASES]
    search = sum(r["search_s"] for r in rows)
    full = sum(r["full_s"] for r in rows)
    ratio = full / search
    same = sum(r["identical"] for r in rows)
    targets: list[dict[str, Any]] = [
        {
            "name": "tables identical to the whole grid's",
            "value": f"{same} of {len(rows)}",
            "target": "all",
            "met": same == len(rows),
        },
        {
            "name": "speed-up, CPU seconds (whole grid / search)",
            "value": round(ratio, 2),
            "target": f">= {TARGET_RATIO}",
            "met": ratio >= TARGET_RATIO,
        },
    ]
    out = {
        "benchmark": "slo_tables",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "cases": rows,
        "targets": targets,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    table = Table(title=f"capacity-at-SLO tables ({out['machine']})")
    for col in ("cv", "SLO/step", "timeout/step", "attainment", "search s", "grid s", "x", "same"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['cv']:g}",
            f"{r['slo_over_step']:g}",
            f"{r['timeout_over_step']:g}",
            f"{r['attainment']:g}",
            f"{r['search_s']:.2f}",
            f"{r['full_s']:.2f}",
            f"{r['ratio']:.2f}",
            "yes" if r["identical"] else "NO",
        )
    console = Console()
    console.print(table)
    for t in targets:
        mark = "[green]met[/green]" if t["met"] else "[red]NOT met[/red]"
        console.print(f"{t['name']}: {t['value']} (target {t['target']}) {mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
