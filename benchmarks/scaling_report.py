"""The scaling benchmark's report: its targets (issue 3), the plot and the tables per model.
`scaling.py` runs the planners and hands their results here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.targets import print_targets, target

TARGET_ATTAINMENT = 0.995
TARGET_RATIO = 1.20


def _shown(value: float, digits: int, target: float, met: bool) -> float:
    """`value` rounded to `digits`, or to more where that rounding would land on the target
    it misses (1.2004 is not shown as 1.2 beside "<= 1.2: not met")."""
    while not met and round(value, digits) == target and digits < 12:
        digits += 1
    return round(value, digits)


def _ratio_cell(ratio: float) -> str:
    """x oracle for the table, as precise as `evaluate` shows it against the target."""
    shown = _shown(ratio, 3, TARGET_RATIO, ratio <= TARGET_RATIO)
    return f"{shown:.3f}" if shown == round(shown, 3) else f"{shown:g}"


def evaluate(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    oracle, ours = results["oracle"]["models"], results["forecast"]["models"]
    for key, mine in ours.items():
        ratio = mine["gpu_hours"] / oracle[key]["gpu_hours"]
        met = mine["attainment"] >= TARGET_ATTAINMENT
        targets.append(
            target(
                f"{key}: forecast planner SLO attainment",
                _shown(mine["attainment"], 5, TARGET_ATTAINMENT, met),
                f">= {TARGET_ATTAINMENT}",
                met,
            )
        )
        met = ratio <= TARGET_RATIO
        targets.append(
            target(
                f"{key}: forecast planner GPU-hours / oracle",
                _shown(ratio, 3, TARGET_RATIO, met),
                f"<= {TARGET_RATIO}",
                met,
            )
        )
        baselines = [name for name in results if name not in ("forecast", "oracle")]
        dominating = [
            name
            for name in baselines
            if results[name]["models"][key]["gpu_hours"] <= mine["gpu_hours"]
            and results[name]["models"][key]["attainment"] >= mine["attainment"]
        ]
        if not baselines:  # nothing compared: not a "none"
            value, met = "not measured (no baseline among --planners)", False
        else:
            value = ", ".join(dominating) or f"none (of {', '.join(baselines)})"
            met = not dominating
        targets.append(
            target(f"{key}: baselines better on both GPU-hours and attainment", value, "none", met)
        )
    return targets


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results["oracle"]["models"])
    fig, axes = plt.subplots(len(keys), 1, figsize=(16, 4.5 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        fc = results["forecast"]["models"][key]["trace"]
        hours = np.arange(len(fc["load"])) / 6.0
        ax.fill_between(
            hours,
            fc["p10"],
            fc["p90"],
            color="tab:blue",
            alpha=0.2,
            label="forecast p10-p90 at cold-start lead",
        )
        ax.plot(hours, fc["load"], color="black", lw=0.8, label="load (req/s)")
        for name, r in results.items():
            ax.plot(hours, r["models"][key]["trace"]["capacity"], lw=0.7, label=f"capacity: {name}")
        ax.set_title(key)
        ax.set_xlabel("hours")
        ax.set_ylabel("req/s")
        ax.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def print_tables(
    results: dict[str, dict[str, Any]],
    targets: list[dict[str, Any]],
    args: argparse.Namespace,
    machine: str,
    wall_s: float,
) -> None:
    """Per model: every planner's GPU-hours, ratio, attainment, delay, actions and the
    proposals the guard stopped; then the targets and the wall time per planner."""
    console = Console(width=160)
    oracle = results["oracle"]["models"]
    seed = "of the scenario" if args.seed is None else args.seed
    for key in oracle:
        table = Table(
            title=f"{key}: {args.scenario}, cold start {args.cold_start:.0f} s, "
            f"{args.days} days, seed {seed}, policy {args.policy} ({machine})"
        )
        for col in (
            "planner",
            "GPU-hours",
            "x oracle",
            "SLO attainment",
            "p95 delay s",
            "actions / day",
            "stopped by the guard",
        ):
            table.add_column(col, justify="left" if col == "planner" else "right")
        for name, r in results.items():
            m = r["models"][key]
            table.add_row(
                name,
                f"{m['gpu_hours']:,.0f}",
                _ratio_cell(m["gpu_hours"] / oracle[key]["gpu_hours"]),
                f"{m['attainment']:.4%}",
                f"{m['p95_delay_s']:.2f}",
                f"{m['actions_per_day']:.0f}",
                ", ".join(f"{k} {v}" for k, v in m["stopped_by_guard"].items()) or "-",
            )
        console.print(table)
    print_targets(console, targets)
    console.print(
        "wall time per planner (one run each, "
        f"{args.workers} at a time): "
        + ", ".join(f"{name} {r['wall_s']:.0f} s" for name, r in results.items())
        + f"; the whole benchmark {wall_s:.0f} s",
        highlight=False,
    )
    if args.png:
        console.print(f"plot: {args.png}")
