"""The scaling suite's scoring: per (trace, model, seed) case the forecast planner
against the oracle and the baselines, the leave-one-out choice of a setting, the rows
per trace and model, the targets and the printed tables. `scaling_suite` runs the suite
and hands its results here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from benchmarks.targets import print_targets, target

TARGET_ATTAINMENT = 0.995
TARGET_RATIO = 1.20
TARGET_WALL_S = 1800.0


class TraceLike(Protocol):
    name: str
    clients: frozenset[str]


class JobLike(Protocol):
    trace: TraceLike
    seed: int
    planner: str
    candidate: int


@dataclass
class Case:
    """One trace, one model configuration, one seed: every planner's figures."""

    trace: str
    model: str
    seed: int
    oracle: dict[str, float]
    forecast: dict[int, dict[str, float]]  # per candidate
    baselines: dict[str, dict[str, float]]

    def ratio(self, candidate: int) -> float:
        return self.forecast[candidate]["gpu_hours"] / self.oracle["gpu_hours"]

    def dominated_by(self, candidate: int) -> list[str]:
        mine = self.forecast[candidate]
        return [
            name
            for name, b in self.baselines.items()
            if b["gpu_hours"] <= mine["gpu_hours"] and b["attainment"] >= mine["attainment"]
        ]

    def misses(self, candidate: int) -> int:
        """Targets missed: attainment, ratio, a baseline better on both."""
        att = self.forecast[candidate]["attainment"] < TARGET_ATTAINMENT
        return (
            int(att)
            + int(self.ratio(candidate) > TARGET_RATIO)
            + int(bool(self.dominated_by(candidate)))
        )


def cases_from(results: list[tuple[JobLike, dict[str, Any]]]) -> list[Case]:
    by_key: dict[tuple[str, str, int], Case] = {}
    for job, result in results:
        for model, figures in result["models"].items():
            key = (job.trace.name, model, job.seed)
            case = by_key.setdefault(key, Case(job.trace.name, model, job.seed, {}, {}, {}))
            kept = {k: v for k, v in figures.items() if isinstance(v, int | float)}
            if job.planner == "oracle":
                case.oracle = kept
            elif job.planner == "forecast":
                case.forecast[job.candidate] = kept
            else:
                case.baselines[job.planner] = kept
    return list(by_key.values())


def choose(cases: list[Case], held_out: TraceLike, traces: tuple[TraceLike, ...], n: int) -> int:
    """The candidate with the fewest missed targets on the traces that share no client with
    `held_out` (then the lowest worst ratio); 0 when there is only one, or no such trace."""
    if n == 1:
        return 0
    training = {t.name for t in traces if not (t.clients & held_out.clients)}
    pool = [c for c in cases if c.trace in training]
    if not pool:
        return 0

    def rank(i: int) -> tuple[int, float]:
        return sum(c.misses(i) for c in pool), max(c.ratio(i) for c in pool)

    return min(range(n), key=rank)


def summarise(
    cases: list[Case], traces: tuple[TraceLike, ...], n: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per trace and model: the held-out figures of the setting chosen without it."""
    rows, chosen = [], {}
    for trace in traces:
        pick = chosen[trace.name] = choose(cases, trace, traces, n)
        mine = [c for c in cases if c.trace == trace.name]
        for model in sorted({c.model for c in mine}):
            runs = sorted((c for c in mine if c.model == model), key=lambda c: c.seed)
            worst_att = min(runs, key=lambda c: c.forecast[pick]["attainment"])
            worst_ratio = max(runs, key=lambda c: c.ratio(pick))
            rows.append(
                {
                    "trace": trace.name,
                    "model": model,
                    "candidate": pick,
                    "seeds": [c.seed for c in runs],
                    "attainment": [round(c.forecast[pick]["attainment"], 5) for c in runs],
                    "ratio": [round(c.ratio(pick), 4) for c in runs],
                    "oracle_attainment": [round(c.oracle["attainment"], 5) for c in runs],
                    "min_attainment": round(worst_att.forecast[pick]["attainment"], 5),
                    "min_attainment_seed": worst_att.seed,
                    "max_ratio": round(worst_ratio.ratio(pick), 4),
                    "max_ratio_seed": worst_ratio.seed,
                    "by_setting": {
                        str(i): {
                            "attainment": [round(c.forecast[i]["attainment"], 5) for c in runs],
                            "ratio": [round(c.ratio(i), 4) for c in runs],
                        }
                        for i in range(n)
                    },
                    "dominated_by": {
                        str(c.seed): c.dominated_by(pick) for c in runs if c.dominated_by(pick)
                    },
                    "baselines": {
                        name: {
                            "max_attainment": round(
                                max(c.baselines[name]["attainment"] for c in runs), 5
                            ),
                            "min_ratio": round(
                                min(
                                    c.baselines[name]["gpu_hours"] / c.oracle["gpu_hours"]
                                    for c in runs
                                ),
                                4,
                            ),
                        }
                        for name in (runs[0].baselines if runs else {})
                    },
                }
            )
    return rows, chosen


def targets_for(rows: list[dict[str, Any]], wall_s: float, reused: int = 0) -> list[dict[str, Any]]:
    """Per row and the worst case; the suite's wall time only when this process ran
    every run (`reused` runs came from a `--results` file: not measured)."""
    out = []
    for r in rows:
        where = f"{r['trace']} / {r['model']}"
        met = r["min_attainment"] >= TARGET_ATTAINMENT
        out.append(
            target(
                f"{where}: forecast planner SLO attainment, lowest over seeds",
                r["min_attainment"],
                f">= {TARGET_ATTAINMENT}",
                met,
            )
        )
        out.append(
            target(
                f"{where}: forecast planner GPU-hours / oracle, highest over seeds",
                r["max_ratio"],
                f"<= {TARGET_RATIO}",
                r["max_ratio"] <= TARGET_RATIO,
            )
        )
        dominated = r["dominated_by"]
        out.append(
            target(
                f"{where}: baselines better on both GPU-hours and attainment, any seed",
                "; ".join(f"seed {s}: {', '.join(b)}" for s, b in dominated.items()) or "none",
                "none",
                not dominated,
            )
        )
    if rows:
        worst = min(rows, key=lambda r: r["min_attainment"])
        costly = max(rows, key=lambda r: r["max_ratio"])
        out.append(
            target(
                "worst case: lowest attainment of any trace, model and seed",
                f"{worst['min_attainment']} ({worst['trace']} / {worst['model']}, "
                f"seed {worst['min_attainment_seed']})",
                f">= {TARGET_ATTAINMENT}",
                worst["min_attainment"] >= TARGET_ATTAINMENT,
            )
        )
        out.append(
            target(
                "worst case: highest GPU-hours / oracle of any trace, model and seed",
                f"{costly['max_ratio']} ({costly['trace']} / {costly['model']}, "
                f"seed {costly['max_ratio_seed']})",
                f"<= {TARGET_RATIO}",
                costly["max_ratio"] <= TARGET_RATIO,
            )
        )
    out.append(
        target(
            "suite wall time, s",
            round(wall_s, 1)
            if not reused
            else f"not measured: {reused} runs came from --results ({wall_s:.0f} s for the rest)",
            f"<= {TARGET_WALL_S:.0f}",
            not reused and wall_s <= TARGET_WALL_S,
        )
    )
    return out


def print_report(
    rows: list[dict[str, Any]],
    walls: dict[str, dict[str, float]],
    targets: list[dict[str, Any]],
    seeds: tuple[int, ...],
    machine: str,
    wall: float,
    candidates: list[dict[str, Any]],
) -> None:
    console = Console(width=180)
    table = Table(title=f"scaling suite: forecast planner per trace, seeds {seeds} ({machine})")
    for col in (
        "trace",
        "model",
        "setting",
        "attainment per seed",
        "x oracle per seed",
        "lowest att.",
        "highest x",
        "baselines better on both",
    ):
        table.add_column(
            col,
            justify="left" if col in ("trace", "model", "baselines better on both") else "right",
        )
    for r in rows:
        table.add_row(
            r["trace"],
            r["model"].split("/")[-1],
            f"#{r['candidate']}",
            " ".join(f"{a:.2%}" for a in r["attainment"]),
            " ".join(f"{x:.3f}" for x in r["ratio"]),
            f"{r['min_attainment']:.3%}",
            f"{r['max_ratio']:.3f}",
            "; ".join(f"{s}: {', '.join(b)}" for s, b in r["dominated_by"].items()) or "none",
        )
    console.print(table)
    if len(candidates) > 1:
        for i, c in enumerate(candidates):
            console.print(f"setting #{i}: {json.dumps(c)}")
    times = Table(title=f"wall time per planner (suite: {wall:.0f} s)")
    for col in ("planner", "runs", "total s", "mean s per run"):
        times.add_column(col, justify="left" if col == "planner" else "right")
    for p, w in walls.items():
        times.add_row(p, str(w["runs"]), f"{w['total_s']:.0f}", f"{w['mean_s']:.1f}")
    console.print(times)
    print_targets(console, targets)
