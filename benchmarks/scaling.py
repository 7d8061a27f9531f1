"""Scaling: every planner on servegen-14d with a 180 s cold start, against the oracle.

Runs the whole daemon (observe, forecast, plan, guard, act) on the virtual clock once per
planner (two at a time), and reports per model: GPU-hours, ratio to the oracle's,
SLO attainment (share of requests that waited less than the queueing-delay SLO), p95
queueing delay and scaling actions per day; a PNG shows load, forecast band and the
capacity each planner kept. Targets (issue 3), for the forecast planner on every model:
attainment >= 99.5 %, GPU-hours <= 1.20 x oracle, and no baseline better on both.

    python benchmarks/scaling.py [--scenario servegen-14d] [--cold-start 180]
        [--trace FILE [--format servegen-total|servegen-client|azure-requests]]
        [--days N] [--seed N] [--policy planners-only|default|FILE] [--png scaling.png] [--json]

The guard judges every planner under `benchmarks/planners_only.yaml` by default: the hard
limits only (replica bounds, the cluster's GPUs), every scale inside them allowed. Under
the scenario's default pack no human answers approvals here, so static peak never reached
its size, HPA and KPA lost big steps, and its forecast-cover rule held the oracle above its
own plan; `--policy default` runs that pack to show it. The table counts, per planner,
the proposals the guard stopped and the rules that did.

`--trace` replaces every model's trace with FILE (scaled to the model's original mean
rate), so the comparison can be run on traces the planners were not tuned on. Its format
is told from its first line unless `--format` names it, as `gpusteward forecast` does: a
`window_start_s` header or three columns, a ServeGen total; `TIMESTAMP`, an Azure request
log; otherwise a ServeGen client's six columns.

`scaling_scenario.py` builds the scenario each planner runs; `scaling_report.py` holds the
targets, the plot and the tables; `scaling_suite.py` runs the cross-trace suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from pydantic import ValidationError

from benchmarks.scaling_scenario import prepare_scenario
from benchmarks.siblings import sibling
from benchmarks.targets import exit_status, host
from gpusteward.app.parts import load_policy_file
from gpusteward.app.settings import load_settings
from gpusteward.app.wiring import assemble
from gpusteward.app.wiring_sim import SimBackend
from gpusteward.core.errors import InputError
from gpusteward.core.logs import configure_logging
from gpusteward.core.tick import TickRecord
from gpusteward.core.user_files import png_option
from gpusteward.testing import NullJournal

PLANNERS = ("oracle", "forecast", "reactive", "kpa", "dynamo", "static-peak")
TARGET_ATTAINMENT = 0.995


@dataclass
class Trace:
    """Per model, 10-minute means of what the plot needs."""

    load: list[float] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)
    p10: list[float] = field(default_factory=list)
    p90: list[float] = field(default_factory=list)


def _suite() -> ModuleType:
    return sibling("scaling_suite")


def _bounded(kind: type, low: float, high: float, what: str) -> Any:
    """An argparse type: a finite `kind` in [low, high], or an error naming the range."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            whole = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {whole}: {text!r}") from None
        if not (low <= value <= high):  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text}: {what} from {low} to {high}")
        return value

    return parse


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {text!r}")
    return value


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, names: list[str]) -> None:
    """Exit with a message naming the option and the fix when a planner name, a forecast
    planner field or the trace is wrong: checked before any 14-day run starts. The forecast
    planner's scenario is the one that reads every option; the others differ by name only."""
    unknown = [n for n in names if n not in PLANNERS]
    if unknown:
        parser.error(f"--planners: unknown {', '.join(unknown)}; choose from {', '.join(PLANNERS)}")
    if args.forecast_config.get("kind", "forecast") != "forecast":
        parser.error(
            "--forecast-config: 'kind' would replace the forecast planner under test. Fix: "
            "leave it out; the baselines are chosen with --planners"
        )
    try:
        png_option(Path(args.png) if args.png else None)
        scenario = prepare_scenario(args, "forecast")
        load_policy_file(Path(scenario.policy))
    except ValidationError as e:
        where = "--forecast-config" if args.forecast_config else "the scenario"
        errors = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][2:]) or err['loc'][-1]}: {err['msg']}"
            for err in e.errors()
        )
        parser.error(
            f"{where}: {errors}. Fix: fields and bounds as in ForecastPlannerConfig "
            "(agents/forecast_config.py)"
        )
    except (InputError, OSError) as e:
        parser.error(str(e))
    except SystemExit as e:  # `--policy`'s message: an exit code 2 here, as every other
        parser.error(str(e.code))


def run_one(args: argparse.Namespace, planner: str) -> dict[str, Any]:
    configure_logging("error", "json")
    scenario = prepare_scenario(args, planner)
    traces: dict[str, Trace] = {m.key: Trace() for m in scenario.models}
    actions: dict[str, int] = {m.key: 0 for m in scenario.models}
    # proposals the guard stopped: denied, or left waiting for a human (none comes here)
    stopped: dict[str, dict[str, int]] = {m.key: {} for m in scenario.models}
    buffer: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in traces}

    def on_tick(record: TickRecord) -> None:
        snap = record.snapshot
        if snap is None:
            return
        by_key = {f.key: f for f in record.forecasts}
        for key, rows in buffer.items():
            m = snap.metrics.get(key)
            f = by_key.get(key)
            point = f.at_or_after(scenario.models[0].cold_start_seconds) if f else None
            rows.append(
                (
                    m.arrival_rate_rps if m else 0.0,
                    m.capacity_rps if m else 0.0,
                    point.p10 if point else np.nan,
                    point.p90 if point else np.nan,
                )
            )
            if len(rows) == 10:
                a = np.array(rows)
                t = traces[key]
                t.load.append(float(a[:, 0].mean()))
                t.capacity.append(float(a[:, 1].mean()))
                t.p10.append(float(np.nanmean(a[:, 2])) if np.any(~np.isnan(a[:, 2])) else 0.0)
                t.p90.append(float(np.nanmean(a[:, 3])) if np.any(~np.isnan(a[:, 3])) else 0.0)
                rows.clear()
        target_of = {p.action.id: p.action.target for p in record.proposals}
        for v in record.verdicts:
            if v.decision != "allow" and v.action_id in target_of:
                rules = stopped.setdefault(target_of[v.action_id], {})
                for rule in [h.rule for h in v.rules] or [v.decision]:
                    rules[rule] = rules.get(rule, 0) + 1
        for r in record.results:
            if r.status.value == "applied" and r.action_id in target_of:
                target = target_of[r.action_id]
                actions[target] = actions.get(target, 0) + 1

    settings = load_settings()
    # the forecast must reach the forecast planner's lead (a --cold-start over 840 s)
    lead = args.cold_start + scenario.tick_seconds
    if settings.forecast_horizon_seconds < lead:
        settings = settings.model_copy(update={"forecast_horizon_seconds": lead})
    # An in-memory run: a journal that keeps nothing, no checkpoints, nobody approving.
    backend = SimBackend(scenario, settings.run.speed)
    run = assemble(backend, scenario, settings, journal=NullJournal(), on_tick=on_tick)
    started = time.perf_counter()
    stats = asyncio.run(run.daemon.run(tick_first=False))
    wall = time.perf_counter() - started
    last = stats.last_snapshot
    assert last is not None and last.accounting is not None
    models = {}
    for m in scenario.models:
        acc = last.accounting[m.key]
        models[m.key] = {
            "gpu_hours": acc.gpu_hours,
            "attainment": acc.slo_attainment,
            "p95_delay_s": acc.queue_delay_p95_seconds,
            "actions_per_day": actions.get(m.key, 0) / args.days,
            "stopped_by_guard": stopped.get(m.key, {}),
            "trace": traces[m.key].__dict__,
        }
    return {"planner": planner, "wall_s": wall, "models": models}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", default="servegen-14d", help="scenario name or file")
    parser.add_argument(
        "--cold-start",
        type=_bounded(float, 0, 86_400, "seconds"),
        default=180.0,
        help="every model's cold start, s (180)",
    )
    parser.add_argument(
        "--trace", default=None, help="replay this trace for every model (scaled to its mean)"
    )
    parser.add_argument(
        "--format",
        default=None,
        choices=["servegen-total", "servegen-client", "azure-requests"],
        help="the --trace file's format (default: told from its first line, as `gpusteward "
        "forecast` does)",
    )
    parser.add_argument(
        "--days", type=_bounded(int, 1, 366, "whole days"), default=14, help="simulated days (14)"
    )
    parser.add_argument(
        "--seed",
        type=_bounded(int, 0, 2**32 - 1, "an integer"),
        default=None,
        help="The simulator's seed (default: the scenario's)",
    )
    parser.add_argument(
        "--attainment",
        type=_bounded(float, 0.5, 0.99999, "a share"),
        default=TARGET_ATTAINMENT,
        help="Every model's SLO attainment target (the oracle and forecast planner size for it)",
    )
    parser.add_argument(
        "--forecaster",
        default="auto",
        choices=["auto", "last-value"],
        help="what the forecast planner reads (auto: the online mix)",
    )
    parser.add_argument(
        "--policy",
        default="planners-only",
        help="planners-only (hard limits only), default (the scenario's pack), or a file",
    )
    parser.add_argument(
        "--planners",
        default=",".join(PLANNERS),
        help=f"comma-separated, from {','.join(PLANNERS)} (oracle and forecast always run)",
    )
    parser.add_argument("--png", default="benchmarks/scaling.png", help="the plot's file")
    parser.add_argument(
        "--workers",
        type=_bounded(int, 1, 64, "processes"),
        default=min(2, os.cpu_count() or 1),
        help="planners run in parallel processes (default: up to 2)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--forecast-config",
        type=_json_object,
        default={},
        help="JSON fields for the forecast planner, e.g. '{\"margin_above_quantile\": null}'",
    )
    suite = parser.add_argument_group("the cross-trace suite (benchmarks/scaling_suite.py)")
    suite.add_argument(
        "--suite", action="store_true", help="every planner on every suite trace and seed"
    )
    suite.add_argument("--seeds", default=None, help="comma-separated seeds (11,12,13,14,15)")
    suite.add_argument("--suite-traces", default=None, help="comma-separated suite trace names")
    suite.add_argument(
        "--results",
        default=None,
        help="JSON-lines file: each run is appended as it completes, and the runs it "
        "already holds are not run again (a suite cut short goes on)",
    )
    suite.add_argument(
        "--candidates",
        type=lambda text: _suite().candidates_option(text),
        default=None,
        help="JSON list of forecast planner settings, each chosen leave-one-out (default: "
        "--forecast-config alone)",
    )
    args = parser.parse_args()
    names = [p for p in args.planners.split(",") if p]
    for required in ("oracle", "forecast"):
        if required not in names:
            names.insert(0, required)
    if args.suite:
        if args.trace or args.seed is not None:
            parser.error("--suite runs its own traces and --seeds. Fix: leave out --trace, --seed")
        for setting in args.candidates or [args.forecast_config]:
            args.forecast_config = setting
            _check(parser, args, names)
        return int(_suite().main(args, run_one))
    _check(parser, args, names)  # bad input fails here, not in a worker after minutes
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(run_one, [args] * len(names), names))
    results = {r["planner"]: r for r in runs}
    report = sibling("scaling_report")
    targets = report.evaluate(results)
    if args.png:
        report.plot(results, Path(args.png))
    machine = host()
    summary = {
        "benchmark": "scaling",
        "scenario": args.scenario,
        "cold_start_s": args.cold_start,
        "trace": args.trace,
        "days": args.days,
        "seed": args.seed,
        "policy": args.policy,
        "machine": machine,
        "wall_s": round(time.perf_counter() - started, 1),
        "wall_s_per_planner": {name: round(r["wall_s"], 1) for name, r in results.items()},
        "planners": {
            name: {
                key: {
                    k: round(v, 5) if isinstance(v, float) else v
                    for k, v in m.items()
                    if k != "trace"
                }
                for key, m in r["models"].items()
            }
            for name, r in results.items()
        },
        "targets": targets,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        report.print_tables(results, targets, args, machine, summary["wall_s"])
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
