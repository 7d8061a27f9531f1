"""The model zoo: scale to zero, wake in time, drain before removing (issue 27).

Runs the whole daemon (observe, forecast, plan, guard, act) on the `model-zoo` scenario
(52 models from real ServeGen clients, 14 days, 192 H100) once per variant, on the
virtual clock, and compares:
- `ours`: the scenario's planner, the forecast planner wrapped by the scale-to-zero
  planner (idle time learned from each model's own idle stretches, pre-warm before a
  recurring return) and the adapter-merge planner (LoRA fine-tunes onto their base
  model's runtime when their traffic fits), under the scenario's policy
  (policies/zoo.yaml: zero after 30 min at the least, production models only with a
  person's approval, which no one gives here: they stay up);
- `always-on`: the same forecast planner, every model kept at one replica at least, no
  scale to zero and no sharing;
- `keda`: the same forecast planner with a KEDA-like scale to zero: zero after a fixed
  5 minutes without a request (KEDA's cooldownPeriod default), woken by the first
  request, no pre-warm; the same policy with a 5-minute floor;
- `zero-only`: ours without the adapter merges (what scale to zero alone gives).

Per variant: GPU-hours, SLO attainment over every request (the share served within its
model's queueing-delay SLO; requests held while their model woke count, and miss when
they waited longer than the SLO), requests dropped (timeouts) and dropped on removal
(in flight on a replica a scale-down or consolidation removed before they finished),
every wake from zero (first request to first served; pre-warmed ones apart), and the
GPUs that hold only idle models (no request in the last 24 hours) at the end of each day.

Targets (issue 27), for `ours`: GPU-hours <= 0.6 x always-on; attainment >= 99 %;
dropped on removal = 0; every reactive wake <= its model's cold start + one tick; every
pre-warmed wake 0; no GPU holding only idle models at the end of any day. A pre-warmed
wake whose first request came before the pre-warm's `expected_from` (a return it did not
foresee) is listed apart and held to the reactive bound.

    python benchmarks/zoo.py [--days 14 | --hours H] [--start-day 1]
        [--variants ours,always-on,keda] [--workers 2] [--table-dir DIR] [--progress FILE]
        [--json]

`--start-day N` starts the run N - 1 days into the traces (the virtual clock too), for a
look at a later stretch without simulating the days before it; the planners start there
without the history those days would have given them, so its figures are not the full
run's.

`--progress FILE` appends, at each simulated day's end, each variant's figures so far (one
JSON line: the day, then what `variants` holds per variant at the end), so a run stopped
before its last day still leaves the days it finished.

`--hours` runs a shorter window (development, or a machine too slow for the whole run);
its figures are for that window only, and with no day end in it the idle-GPU count has
nothing to report (the target then reads "not measured").

The variants see the same arrivals, so their forecast planners need the same
capacity-at-SLO tables (hundreds for 52 models, 2-3 s of CPU each): they share them
through a directory (`--table-dir`, default a fresh one per run; name a lasting one and a
rerun builds none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.slo_capacity import TABLE_DIR_ENV  # noqa: E402
from benchmarks.siblings import sibling  # noqa: E402
from gpusteward.app.scenario import SCENARIO_DIR, Scenario, load_scenario  # noqa: E402
from gpusteward.app.settings import load_settings  # noqa: E402
from gpusteward.app.wiring_sim import build_sim_run  # noqa: E402
from gpusteward.core.cluster import ClusterSnapshot  # noqa: E402
from gpusteward.core.logs import configure_logging  # noqa: E402
from gpusteward.core.tick import TickRecord  # noqa: E402
from gpusteward.testing import NullJournal  # noqa: E402

# The figures and targets from the variants' results (zoo_figures.py).
_figures = sibling("zoo_figures")
TARGET_RATIO, TARGET_ATTAINMENT = _figures.TARGET_RATIO, _figures.TARGET_ATTAINMENT
totals, wake_stats, summary = _figures.totals, _figures.wake_stats, _figures.summary
evaluate, show = _figures.evaluate, _figures.show

VARIANTS = ("ours", "always-on", "keda", "zero-only")
IDLE_SECONDS = 86_400.0  # "idle": no request in the last day
KEDA_IDLE_SECONDS = 300.0  # KEDA's default cooldownPeriod


def prepare(variant: str, hours: float, tmp: Path, start_day: int = 1) -> Scenario:
    base = load_scenario("model-zoo")
    data = base.model_dump(mode="json")
    data["duration"] = f"{hours:g}h"
    if start_day > 1:  # later in the traces: the clock starts there too (same weekdays)
        offset = 86_400.0 * (start_day - 1)
        data["start"] = (base.start + timedelta(seconds=offset)).isoformat()
        for m in data["models"]:
            m["trace"]["offset_seconds"] = offset
    policy = (SCENARIO_DIR / base.policy).resolve()
    planner = data["planner"]
    if variant == "always-on":
        planner = {**planner, "scale_to_zero": None, "adapter_merge": None}
        for m in data["models"]:
            m["min_replicas"] = max(1, m["min_replicas"])
            m["replicas"] = max(1, m["replicas"])
    elif variant == "keda":
        planner = {
            **planner,
            "adapter_merge": None,
            "scale_to_zero": {
                "learned": False,
                "prewarm": False,
                "min_idle_seconds": KEDA_IDLE_SECONDS,
            },
        }
        text = policy.read_text().replace("min_idle: 30m", "min_idle: 5m")
        policy = tmp / "zoo-keda.yaml"
        policy.write_text(text)
    elif variant == "zero-only":  # ours without sharing: what scale to zero alone gives
        planner = {**planner, "adapter_merge": None}
    elif variant != "ours":
        raise SystemExit(f"--variants: unknown {variant!r}; choose from {', '.join(VARIANTS)}")
    data["planner"], data["policy"] = planner, str(policy)
    return Scenario.model_validate(data)


class IdleGpus:
    """At the end of each simulated day: GPUs whose every replica belongs to a model with
    no request in the last `IDLE_SECONDS`."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.last_active: dict[str, datetime] = {}
        self.per_day: list[int] = []

    def observe(self, snap: ClusterSnapshot) -> None:
        for key, m in snap.metrics.items():
            self.last_active.setdefault(key, self.start)  # not idle before a day has passed
            if m.arrival_rate_rps > 0 or m.queue_depth > 0:
                self.last_active[key] = snap.at
        since = (snap.at - self.start).total_seconds()
        if since <= 0 or since % 86_400 != 0:
            return
        horizon = snap.at - timedelta(seconds=IDLE_SECONDS)
        idle = {k for k, at in self.last_active.items() if at <= horizon}
        owner = {r.id: d.key for d in snap.deployments for r in (*d.replica_states, *d.draining)}
        count = 0
        for n in snap.nodes:
            for g in n.gpus:
                if g.allocated_to is not None and owner.get(g.allocated_to) in idle:
                    count += 1
        self.per_day.append(count)


def run_variant(
    variant: str, hours: float, progress: Path | None = None, start_day: int = 1
) -> dict[str, Any]:
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        scenario = prepare(variant, hours, Path(tmp), start_day)
        idle = IdleGpus(scenario.start)
        counts = {"applied": 0, "denied": 0, "waiting": 0}
        held: dict[str, Any] = {}

        def on_tick(record: TickRecord) -> None:
            if record.snapshot is not None:
                days = len(idle.per_day)
                idle.observe(record.snapshot)
                if progress is not None and len(idle.per_day) > days:
                    result = _result(variant, scenario, record.snapshot, held["sim"], idle, 0.0)
                    with progress.open("a") as f:
                        f.write(json.dumps({"day": len(idle.per_day), **summary(result)}) + "\n")
            for v in record.verdicts:
                if v.decision == "deny":
                    counts["denied"] += 1
                elif v.decision != "allow":
                    counts["waiting"] += 1
            counts["applied"] += sum(1 for r in record.results if r.status.value == "applied")

        settings = load_settings(journal=Path(tmp) / "zoo.db")
        sim = build_sim_run(scenario, settings, fresh=True, on_tick=on_tick)
        held["sim"] = sim.cluster.simulator
        sim.journal.close()
        sim.daemon.journal = NullJournal()
        # The null journal drops checkpoints: do not encode the planner's memory each tick
        # (about half of a tick's CPU once the capacity tables are built).
        sim.daemon.config = replace(sim.daemon.config, checkpoints=False)
        started = time.perf_counter()
        stats = asyncio.run(sim.daemon.run(tick_first=False))
        wall = time.perf_counter() - started
    last = stats.last_snapshot
    assert last is not None
    return {
        **_result(variant, scenario, last, sim.cluster.simulator, idle, wall),
        "actions": counts,
    }


def _result(
    variant: str,
    scenario: Scenario,
    last: ClusterSnapshot,
    simulator: Any,
    idle: IdleGpus,
    wall: float,
) -> dict[str, Any]:
    assert last.accounting is not None
    models = {}
    for m in scenario.models:
        acc = last.accounting[m.key]
        log = simulator.wakes(m.key)
        models[m.key] = {
            "source": m.trace.file.stem.removeprefix("zoo_"),
            "gpu_hours": acc.gpu_hours,
            "arrived": acc.arrived,
            "served": acc.served,
            "within_slo": acc.served_within_slo,
            "dropped": acc.dropped,
            "dropped_on_removal": acc.dropped_on_removal,
            "cold_start": m.cold_start_seconds,
            "wakes": [
                {
                    "prewarmed": w.prewarmed,
                    "latency": w.latency_seconds,
                    "asked": w.asked,
                    "first_request": w.first_request,
                    "expected_from": w.expected_from,
                    "early": w.early,
                }
                for w in log.done
            ],
            "unused_prewarms": log.unused_prewarms,
        }
    return {
        "variant": variant,
        "wall_s": round(wall, 1),
        "tick_seconds": scenario.tick_seconds,
        "models": models,
        "idle_gpus_per_day": list(idle.per_day),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="simulated days (14)")
    parser.add_argument("--hours", type=float, help="a shorter window, in hours (instead)")
    parser.add_argument(
        "--start-day",
        type=int,
        default=1,
        help="start at this day of the traces (1); the planners start with no history there",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--table-dir", type=Path, help="capacity-at-SLO tables shared by the variants"
    )
    parser.add_argument(
        "--progress",
        type=Path,
        help="append each variant's figures so far to this file (JSON lines) at each day's end",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 14:
        parser.error(f"--days {args.days}: from 1 to 14 (the scenario's traces hold 14 days)")
    if args.hours is not None and not 1 <= args.hours <= 14 * 24:
        parser.error(f"--hours {args.hours:g}: from 1 to 336 (14 days)")
    hours = args.hours if args.hours is not None else 24.0 * args.days
    if not 1 <= args.start_day <= 14 or (args.start_day - 1) * 24 + hours > 14 * 24:
        parser.error(
            f"--start-day {args.start_day} with {hours:g} h: the window must end within "
            "the traces' 14 days; start earlier or run fewer days"
        )
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as fresh:
        os.environ[TABLE_DIR_ENV] = str(args.table_dir or fresh)  # the workers inherit it
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            futures = {
                v: pool.submit(run_variant, v, hours, args.progress, args.start_day) for v in names
            }
            results = {v: f.result() for v, f in futures.items()}
    out = {
        "benchmark": "zoo",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "start_day": args.start_day,
        "days": round(hours / 24, 3),
        "hours": hours,
        "wall_s": round(time.perf_counter() - started, 1),
        "variants": {v: {**summary(r), "actions": r["actions"]} for v, r in results.items()},
        "targets": evaluate(results),
    }
    if args.json:
        print(json.dumps(out))
    else:
        show(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
