"""Early-warning diagnostics (issue 26): recall on the red-flag scenarios, precision on
clean traffic, lead before the SLO is missed, and what the diagnostics cost a tick.

Runs the whole daemon (observe, forecast, plan, guard, act, diagnose) on the virtual
clock:
- every shipped `redflag-*` scenario, each labelled with the red flag it injects, when the
  condition begins and when the SLO is first missed (`ground_truth`). A red flag is
  detected when a warning of that flag on that deployment opens within 2 hours
  of the condition's start. Its lead is the SLO's first miss after the condition began
  (measured in the run; the label is checked against it) minus the warning's opening;
  a lead of 10 minutes is possible only where the condition began 10 minutes or more
  before the miss (a ramp, not a step);
- `servegen-14d` as shipped (no injected incident), and the same cluster with each other
  trace we have in place of both models' traces (leave one out: ServeGen's client halves,
  the two Azure hours), each scaled to the model's peak as the scaling suite does. A
  warning there is confirmed when what it warns of happened: for every flag but cost, the
  deployment's SLO (its attainment target over 10 minutes of requests) missed between
  10 minutes before it opened and an hour after; for cost outpacing usage, the GPUs under
  half busy over the hour after it opened. Unconfirmed warnings are false; precision is
  confirmed / all, and false warnings are counted per day. Beside it, "by chance": the
  share of ticks at which a warning would be confirmed by an SLO miss anyway (precision
  means something only well above it).

The detectors' thresholds are relative to each deployment's SLO, capacity and own recent
load, chosen from what each red flag means, not fitted to any of these traces.

Targets (issue 26): recall 100 % over the red-flag scenarios; precision >= 95 % on
servegen-14d (and shown on every other trace); the median lead >= 10 minutes over the
scenarios where the trace makes it possible; diagnostics <= 5 % of a tick's CPU time on
the 14-day run.

    python benchmarks/diagnostics.py [--days 14] [--traces all|none|NAME,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.targets import exit_status  # noqa: E402
from gpusteward.app.diagnose_run import (  # noqa: E402
    Detection,
    DiagnosedRun,
    detections,
    run_diagnosed,
)
from gpusteward.app.scenario import SCENARIO_DIR, Scenario, load_scenario  # noqa: E402
from gpusteward.core.diagnosis import RedFlag  # noqa: E402
from gpusteward.sim.trace_files import RateTable, load_trace_data  # noqa: E402

CONFIRM_BEFORE = 600.0  # an SLO miss this long before a warning opened confirms it
CONFIRM_AFTER = 3600.0  # ... and up to this long after
IDLE_UTIL = 0.5  # cost confirmed: GPUs under half busy over the hour after
TARGET_RECALL = 1.0
TARGET_PRECISION = 0.95
TARGET_LEAD_S = 600.0
TARGET_COST_SHARE = 0.05
TRACES = ROOT / "benchmarks" / "traces"
OTHER_TRACES = {
    "m-large-even": (TRACES / "servegen_m-large_even_total_rate_10min.csv", "servegen-total"),
    "m-large-odd": (TRACES / "servegen_m-large_odd_total_rate_10min.csv", "servegen-total"),
    "m-mid-even": (TRACES / "servegen_m-mid_even_total_rate_10min.csv", "servegen-total"),
    "m-mid-odd": (TRACES / "servegen_m-mid_odd_total_rate_10min.csv", "servegen-total"),
    "azure-code": (TRACES / "AzureLLMInferenceTrace_code.csv", "azure-requests"),
    "azure-conv": (TRACES / "AzureLLMInferenceTrace_conv.csv", "azure-requests"),
}


def red_flag_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("redflag-*.yaml"))


# -- the red-flag scenarios ------------------------------------------------------------------


# -- clean traffic -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Precision:
    trace: str
    days: float
    warnings: int
    confirmed: int
    by_flag: dict[str, tuple[int, int]]  # flag -> (warnings, confirmed)
    cost_share: float
    chance: float  # share of ticks at which a warning would be confirmed by an SLO miss

    @property
    def precision(self) -> float:
        return self.confirmed / self.warnings if self.warnings else 1.0

    @property
    def false_per_day(self) -> float:
        return (self.warnings - self.confirmed) / self.days


def confirmed(run: DiagnosedRun, flag: RedFlag, deployment: str, opened: float) -> bool:
    if flag is RedFlag.COST_OUTPACING_USAGE:
        after = [u for t, u in run.utilisation.get(deployment, []) if opened < t <= opened + 3600]
        return bool(after) and statistics.fmean(after) < IDLE_UTIL
    slo = run.slo.get(deployment)
    return slo is not None and any(
        opened - CONFIRM_BEFORE <= t <= opened + CONFIRM_AFTER for t in slo.missed
    )


def precision_of(trace: str, scenario: Scenario, run: DiagnosedRun) -> Precision:
    by_flag: dict[str, list[int]] = {}
    for w in run.opened.values():
        ok = confirmed(run, w.flag, w.deployment, w.opened_at.timestamp())
        counts = by_flag.setdefault(w.flag.value, [0, 0])
        counts[0] += 1
        counts[1] += int(ok)
    total = sum(c[0] for c in by_flag.values())
    good = sum(c[1] for c in by_flag.values())
    share = run.diagnose_seconds / run.tick_seconds if run.tick_seconds else 0.0
    flags = {k: (v[0], v[1]) for k, v in sorted(by_flag.items())}
    days = scenario.duration_seconds / 86_400
    return Precision(trace, days, total, good, flags, share, chance(run))


def chance(run: DiagnosedRun) -> float:
    """What a warning opened at a random tick would score: the share of ticks (over every
    deployment) with an SLO miss between 10 minutes before and an hour after. Precision
    means something only well above it."""
    hit = total = 0
    for slo in run.slo.values():
        misses = slo.missed
        for t in slo.ticks:
            i = bisect_left(misses, t - CONFIRM_BEFORE)
            hit += i < len(misses) and misses[i] <= t + CONFIRM_AFTER
            total += 1
    return hit / total if total else 0.0


def _rate(path: Path, fmt: str, peak: bool = True) -> float:
    data = load_trace_data(path, fmt)  # type: ignore[arg-type]
    if isinstance(data, RateTable):
        return float(data.rates.max())
    import numpy as np

    bins = np.arange(0.0, data.duration_seconds + 600.0, 600.0)
    return float(np.histogram(data.times, bins)[0].max()) / 600.0


def with_trace(base: Scenario, path: Path, fmt: str, days: int) -> Scenario:
    """`base` with every model's trace replaced by `path`, scaled to the model's peak."""
    models = []
    for m in base.models:
        target = _rate(m.trace.file, m.trace.format) * m.trace.scale
        scale = target / max(_rate(path, fmt), 1e-9)
        trace = m.trace.model_copy(update={"file": path, "format": fmt, "scale": scale})
        models.append(m.model_copy(update={"trace": trace}))
    duration = "1h" if fmt == "azure-requests" else f"{days}d"
    return base.model_copy(update={"models": tuple(models), "duration": duration})


# -- the run ---------------------------------------------------------------------------------


def run(days: int, traces: list[str], clean_scenario: str = "servegen-14d") -> dict[str, Any]:
    started = time.monotonic()
    found: list[Detection] = []
    for name in red_flag_scenarios():
        scenario = load_scenario(name)
        found += detections(name, scenario, run_diagnosed(scenario))
    base = load_scenario(clean_scenario)
    clean = base.model_copy(update={"duration": f"{days}d"})
    precisions = [precision_of(base.name, clean, run_diagnosed(clean))]
    for name in traces:
        path, fmt = OTHER_TRACES[name]
        scenario = with_trace(base, path, fmt, days)
        precisions.append(precision_of(name, scenario, run_diagnosed(scenario)))
    return {
        "detections": found,
        "precisions": precisions,
        "wall_s": time.monotonic() - started,
    }


def targets_for(result: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[Detection] = result["detections"]
    precisions: list[Precision] = result["precisions"]
    recall = sum(d.detected_s is not None for d in found) / len(found) if found else 0.0
    leads = [d.lead_s for d in found if d.lead_possible and d.lead_s is not None]
    possible = [d for d in found if d.lead_possible]
    # a possible lead never detected counts as no lead at all
    leads += [0.0 for d in possible if d.lead_s is None]
    median_lead = statistics.median(leads) if leads else None
    main = precisions[0]
    out = [
        _target("recall over the red-flag scenarios", recall, TARGET_RECALL, recall >= 1.0),
        _target(
            f"precision on {main.trace} (no injected incident)",
            main.precision,
            TARGET_PRECISION,
            main.precision >= TARGET_PRECISION,
        ),
        _target(
            "median lead before the first SLO miss (s), where possible",
            median_lead,
            TARGET_LEAD_S,
            median_lead is not None and median_lead >= TARGET_LEAD_S,
        ),
        _target(
            f"diagnostics share of a tick's CPU time ({main.trace})",
            main.cost_share,
            TARGET_COST_SHARE,
            main.cost_share <= TARGET_COST_SHARE,
        ),
        _target(
            "every label's SLO miss matches the run (within a tick)",
            sum(d.label_holds for d in found),
            len(found),
            all(d.label_holds for d in found),
        ),
    ]
    for p in precisions[1:]:
        out.append(
            _target(
                f"precision on {p.trace} (leave one out)",
                p.precision,
                TARGET_PRECISION,
                p.precision >= TARGET_PRECISION,
            )
        )
    return out


def _target(name: str, value: float | None, target: float, met: bool) -> dict[str, Any]:
    return {
        "name": name,
        "value": None if value is None else round(float(value), 4),
        "target": target,
        "met": bool(met),
    }


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:+.1f}"


def print_tables(result: dict[str, Any], targets: list[dict[str, Any]], console: Console) -> None:
    t = Table(title="Red-flag scenarios (minutes from the run's start; lead = miss - warning)")
    for col in ("scenario", "red flag", "begins", "warned", "SLO missed", "label", "lead"):
        t.add_column(col)
    for d in result["detections"]:
        lead = _minutes(d.lead_s) + ("" if d.lead_possible else " (no room)")
        t.add_row(
            d.scenario,
            d.flag.value,
            _minutes(d.begins_s),
            _minutes(d.detected_s) if d.detected_s is not None else "MISSED",
            _minutes(d.measured_miss_s),
            "ok" if d.label_holds else f"says {_minutes(d.label_miss_s)}",
            lead,
        )
    console.print(t)
    p = Table(title="Clean traffic: warnings confirmed by what followed")
    for col in (
        "trace",
        "days",
        "warnings",
        "confirmed",
        "precision",
        "by chance",
        "false / day",
        "by flag (confirmed / warnings)",
    ):
        p.add_column(col)
    for x in result["precisions"]:
        flags = ", ".join(f"{k} {c}/{n}" for k, (n, c) in x.by_flag.items()) or "-"
        p.add_row(
            x.trace,
            f"{x.days:.2f}",
            str(x.warnings),
            str(x.confirmed),
            f"{x.precision:.1%}",
            f"{x.chance:.1%}",
            f"{x.false_per_day:.2f}",
            flags,
        )
    console.print(p)
    g = Table(title="Targets (issue 26)")
    for col in ("target", "value", "needs", "met"):
        g.add_column(col)
    for x in targets:
        g.add_row(x["name"], str(x["value"]), str(x["target"]), "yes" if x["met"] else "NO")
    console.print(g)
    console.print(
        f"wall {result['wall_s']:.0f} s on {platform.machine()}, Python "
        f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="days of each clean run")
    parser.add_argument(
        "--traces",
        default="all",
        help="other traces for leave-one-out precision: all, none, or names from "
        + ", ".join(OTHER_TRACES),
    )
    parser.add_argument(
        "--scenario", default="servegen-14d", help="the clean run (no injected incident)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if args.days < 1:
        parser.error(f"--days {args.days}: give at least 1 (days of each clean run)")
    names = (
        list(OTHER_TRACES)
        if args.traces == "all"
        else []
        if args.traces == "none"
        else [n.strip() for n in args.traces.split(",") if n.strip()]
    )
    unknown = [n for n in names if n not in OTHER_TRACES]
    if unknown:
        parser.error(f"--traces: unknown {', '.join(unknown)}; use {', '.join(OTHER_TRACES)}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    result = run(args.days, names, args.scenario)
    targets = targets_for(result)
    if args.json:
        body = {
            "detections": [
                {**d.__dict__, "flag": d.flag.value, "lead_s": d.lead_s}
                for d in result["detections"]
            ],
            "precision": [
                {**p.__dict__, "precision": p.precision, "false_per_day": p.false_per_day}
                for p in result["precisions"]
            ],
            "wall_s": result["wall_s"],
            "targets": targets,
        }
        print(json.dumps(body, indent=2))
    else:
        print_tables(result, targets, Console(width=150))
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
