"""The zoo benchmark's figures: totals per variant and source, wakes, the targets
(issue 27) and the table. `zoo.py` runs the variants and hands their results here."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

TARGET_RATIO = 0.6
TARGET_ATTAINMENT = 0.99


def totals(result: dict[str, Any], source: str | None = None) -> dict[str, float]:
    rows = [m for m in result["models"].values() if source is None or m["source"] == source]
    done = sum(m["served"] + m["dropped"] for m in rows)
    return {
        "gpu_hours": sum(m["gpu_hours"] for m in rows),
        "attainment": sum(m["within_slo"] for m in rows) / done if done else 1.0,
        "dropped": sum(m["dropped"] for m in rows),
        "dropped_on_removal": sum(m["dropped_on_removal"] for m in rows),
        "requests": sum(m["arrived"] for m in rows),
    }


def wake_stats(result: dict[str, Any]) -> dict[str, Any]:
    """Reactive wakes (latency bound: cold start + one tick) and pre-warmed ones (bound: 0).
    A pre-warmed wake whose first request came before the window its pre-warm expected
    requests in (`early`) was not foreseen: it is listed apart, held to the reactive bound
    and not counted as a late pre-warm."""
    tick = result["tick_seconds"]
    reactive, prewarmed, late, over = 0, 0, 0, []
    latencies: list[float] = []
    waited: list[dict[str, Any]] = []  # the pre-warmed wakes whose first request waited
    early: list[dict[str, Any]] = []  # first request before its pre-warm's expected window
    slow: list[dict[str, Any]] = []  # the reactive wakes over cold start + one tick
    for key, m in result["models"].items():
        for w in m["wakes"]:
            if w["latency"] is None:
                continue
            first = w.get("first_request")
            wake = {
                "model": key,
                "first_request_s": first,
                "cold_start_s": m["cold_start"],
                "waited_s": round(w["latency"], 1),
            }
            if w["prewarmed"]:
                prewarmed += 1
                if not w.get("early"):  # foreseen: its bound is 0
                    if w["latency"] > 0:
                        late += 1
                        asked = w.get("asked")
                        lead = first - asked if first is not None and asked is not None else None
                        waited.append({**wake, "asked_before_s": lead})
                    continue
                early.append({**wake, "before_expected_s": round(w["expected_from"] - first, 1)})
            else:
                reactive += 1
                latencies.append(w["latency"])
            if w["latency"] > m["cold_start"] + tick:  # a reactive wake's bound
                over.append(round(w["latency"] - m["cold_start"] - tick, 1))
                slow.append(wake)
    latencies.sort()
    return {
        "reactive": reactive,
        "reactive_over_bound": len(over),
        "reactive_over_bound_wakes": slow,
        "worst_excess_s": max(over, default=0.0),
        "reactive_p50_s": latencies[len(latencies) // 2] if latencies else 0.0,
        "reactive_max_s": latencies[-1] if latencies else 0.0,
        "prewarmed": prewarmed,
        "prewarmed_late": late,
        "prewarmed_late_wakes": waited,
        "prewarmed_early": len(early),
        "prewarmed_early_wakes": early,
        "unused_prewarms": sum(m["unused_prewarms"] for m in result["models"].values()),
    }


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """One variant's figures: totals, per source, wakes, idle GPUs per day."""
    return {
        "variant": r["variant"],
        **totals(r),
        "by_source": {s: totals(r, s) for s in sorted({m["source"] for m in r["models"].values()})},
        "wakes": wake_stats(r),
        "idle_gpus_per_day": r["idle_gpus_per_day"],
        "wall_s": r["wall_s"],
    }


def evaluate(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def add(name: str, value: Any, target: str, met: bool) -> None:
        targets.append({"name": name, "value": value, "target": target, "met": bool(met)})

    ours = results.get("ours")
    if ours is None:
        return targets
    mine = totals(ours)
    if "always-on" in results:
        ratio = mine["gpu_hours"] / totals(results["always-on"])["gpu_hours"]
        add("GPU-hours / always-on", round(ratio, 4), f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO)
    else:
        add(
            "GPU-hours / always-on", "not measured (always-on not run)", f"<= {TARGET_RATIO}", False
        )
    att = mine["attainment"]
    add(
        "SLO attainment, all requests",
        round(att, 5),
        f">= {TARGET_ATTAINMENT}",
        att >= TARGET_ATTAINMENT,
    )
    removal = mine["dropped_on_removal"]
    add("requests dropped by a scale-down or consolidation", removal, "0", removal == 0)
    w = wake_stats(ours)
    add(
        "reactive wakes over cold start + one tick (with pre-warms that came early)",
        f"{w['reactive_over_bound']} of {w['reactive'] + w['prewarmed_early']}",
        "0",
        w["reactive_over_bound"] == 0,
    )
    add(
        "pre-warmed wakes with a wait (first request in the expected window)",
        f"{w['prewarmed_late']} of {w['prewarmed'] - w['prewarmed_early']}",
        "0",
        w["prewarmed_late"] == 0,
    )
    days = ours["idle_gpus_per_day"]
    add(
        "GPUs holding only idle models, end of each day (max)",
        max(days) if days else "not measured (no day end in the window)",
        "0",
        bool(days) and max(days) == 0,
    )
    return targets


def show(out: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"model zoo, {out['hours']:g} hours ({out['machine']})")
    for col in (
        "variant",
        "GPU-h",
        "attainment",
        "dropped",
        "on removal",
        "wakes (pre-warmed)",
        "idle GPUs/day",
    ):
        table.add_column(col, justify="right")
    for v, r in out["variants"].items():
        w = r["wakes"]
        table.add_row(
            v,
            f"{r['gpu_hours']:,.0f}",
            f"{r['attainment']:.3%}",
            f"{r['dropped']:,}",
            f"{r['dropped_on_removal']:,}",
            f"{w['reactive'] + w['prewarmed']} ({w['prewarmed']})",
            " ".join(str(x) for x in r["idle_gpus_per_day"]),
        )
    console.print(table)
    for t in out["targets"]:
        mark = "[green]met[/green]" if t["met"] else "[red]NOT met[/red]"
        console.print(f"{t['name']}: {t['value']} (target {t['target']}) {mark}")
