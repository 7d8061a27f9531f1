"""The scaling benchmark across traces: leave-one-out over every trace in the repository.

`python benchmarks/scaling.py --suite` runs every planner on every suite trace and seed
(servegen-14d's cluster and both its model configurations, each model's trace replaced by
the suite trace scaled as `--trace` does, but to the
model's peak rate: the cluster and the replica bounds were sized for the model's own
peak, and a half of a model's clients scaled to its mean peaked past them; a request
trace's peak is its busiest tick, not its busiest 10 minutes), in parallel
processes, and scores the forecast planner per trace against the oracle and the
baselines. The traces: the two ServeGen totals the scenarios ship, four disjoint halves
of their clients (`benchmarks/traces/`, jumpier than the totals), and the two Azure
request traces (one hour each: short-window burstiness; those runs start with the
replicas their first 10 minutes need, as a cluster that was already serving would, since
a cold start would otherwise decide a one-hour run).

Leave-one-out: every forecast-planner setting in `--candidates` (default: the shipped
one alone) runs on every trace; for each held-out trace the setting is chosen on the
other traces only, leaving out every trace that shares clients with it (a ServeGen total
and its halves), and scored on the held-out one. A setting is ranked by the number of
(trace, model, seed) runs where it misses a target, then by its worst ratio to the
oracle's GPU-hours. With one candidate the choice is trivial and every trace is out of
its sample only in the sense that nothing was chosen on it here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.targets import exit_status, host


def _score() -> ModuleType:
    """benchmarks/scaling_suite_score.py, beside this script (which is not a package)."""
    name = "scaling_suite_score"
    if name not in sys.modules:
        path = Path(__file__).with_name(f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "gpusteward" / "scenarios" / "traces"
OURS = ROOT / "benchmarks" / "traces"
SEEDS = (11, 12, 13, 14, 15)
BASELINES = ("reactive", "kpa", "dynamo", "static-peak")


@dataclass(frozen=True)
class SuiteTrace:
    name: str
    file: Path
    format: str
    clients: frozenset[str]  # what it is summed from: traces that share any are not independent
    duration: str = "14d"

    @property
    def short(self) -> bool:
        return self.duration != "14d"


def _servegen(name: str, file: Path, model: str, parities: tuple[int, ...]) -> SuiteTrace:
    return SuiteTrace(name, file, "servegen-total", frozenset(f"{model}:{p}" for p in parities))


SUITE: tuple[SuiteTrace, ...] = (
    _servegen("m-large", SHIPPED / "servegen_m-large_total_rate_10min.csv", "m-large", (0, 1)),
    _servegen("m-mid", SHIPPED / "servegen_m-mid_total_rate_10min.csv", "m-mid", (0, 1)),
    *(
        _servegen(
            f"{model}-{half}",
            OURS / f"servegen_{model}_{half}_total_rate_10min.csv",
            model,
            (parity,),
        )
        for model in ("m-large", "m-mid")
        for half, parity in (("even", 0), ("odd", 1))
    ),
    *(
        SuiteTrace(
            f"azure-{kind}",
            OURS / f"AzureLLMInferenceTrace_{kind}.csv",
            "azure-requests",
            frozenset({f"azure:{kind}"}),
            duration="1h",
        )
        for kind in ("code", "conv")
    ),
)


@dataclass(frozen=True)
class Job:
    trace: SuiteTrace
    seed: int
    planner: str
    candidate: int  # index into the candidates (forecast planner only; -1 otherwise)

    @property
    def cost(self) -> float:
        """A rough order for the queue: the longest runs first balance the workers."""
        days = 14.0 if not self.trace.short else 1 / 24
        return days * (
            6.0 if self.planner == "forecast" else 1.5 if self.planner == "oracle" else 1.0
        )


def _namespace(base: argparse.Namespace, job: Job, candidates: list[dict[str, Any]]) -> Any:
    args = argparse.Namespace(**vars(base))
    args.trace = str(job.trace.file)
    args.format = job.trace.format
    args.seed = job.seed
    args.duration = job.trace.duration
    args.warm_start = job.trace.short
    args.scale_to = "peak"
    args.forecast_config = candidates[job.candidate] if job.candidate >= 0 else {}
    return args


RunOne = Callable[[argparse.Namespace, str], dict[str, Any]]


def _run(
    run_one: RunOne, base: argparse.Namespace, job: Job, candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    out = run_one(_namespace(base, job, candidates), job.planner)
    for m in out["models"].values():
        m.pop("trace", None)  # the plot's series: not needed across processes
    return out


def jobs_for(
    traces: tuple[SuiteTrace, ...],
    seeds: tuple[int, ...],
    n_candidates: int,
    baselines: tuple[str, ...],
) -> list[Job]:
    """Every run, a (trace, seed) at a time with its longest runs first, the one-hour
    traces last (they fill the workers' gaps at the end): an interrupted suite with a
    `--results` file has whole cases, not every trace's forecast run and nothing else."""
    jobs = []
    for trace in traces:
        for seed in seeds:
            jobs += [Job(trace, seed, "forecast", c) for c in range(n_candidates)]
            jobs += [Job(trace, seed, p, -1) for p in ("oracle", *baselines)]
    order = {(t.name, s): i for i, (t, s) in enumerate((t, s) for t in traces for s in seeds)}
    return sorted(jobs, key=lambda j: (j.trace.short, order[j.trace.name, j.seed], -j.cost))


def job_key(job: Job, candidates: list[dict[str, Any]]) -> str:
    """What a run in a `--results` file is known by: trace, seed, planner and the setting
    itself (not its index, which another `--candidates` list gives another meaning)."""
    setting = candidates[job.candidate] if job.candidate >= 0 else None
    return json.dumps([job.trace.name, job.seed, job.planner, setting], sort_keys=True)


def read_results(path: Path | None) -> dict[str, dict[str, Any]]:
    """The runs a `--results` file already holds, by `job_key` (none: a new file)."""
    if path is None or not path.exists():
        return {}
    done = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            done[record["key"]] = record["result"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise SystemExit(
                f"--results {path}: line {number} is not a run this suite wrote ({e}). Fix: "
                "give a new file, or remove that line (each line is one run's figures)"
            ) from None
    return done


def run_all(
    run_one: RunOne,
    base: argparse.Namespace,
    jobs: list[Job],
    candidates: list[dict[str, Any]],
    workers: int,
    results: Path | None = None,
) -> Iterator[tuple[Job, dict[str, Any]]]:
    """Every job's result as it completes. The workers live through the suite, so what a
    planner caches per process (capacity-at-SLO tables) is built once per worker. With a
    `results` file, the runs it holds are taken from it and each new one is appended as
    it completes: a suite cut short goes on where it stopped."""
    kept = read_results(results)
    todo = [j for j in jobs if job_key(j, candidates) not in kept]
    for j in jobs:
        if j not in todo:
            yield j, kept[job_key(j, candidates)]
    if todo and len(todo) < len(jobs):
        print(f"suite: {len(jobs) - len(todo)} runs from {results}", file=sys.stderr)
    with ProcessPoolExecutor(workers) as pool:
        futures: dict[Future[dict[str, Any]], Job] = {
            pool.submit(_run, run_one, base, j, candidates): j for j in todo
        }
        for done, fut in enumerate(as_completed(futures), start=1):
            job = futures[fut]
            result = fut.result()
            if results is not None:
                with results.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": job_key(job, candidates), "result": result}) + "\n")
            print(
                f"suite: {done}/{len(todo)} {job.trace.name} seed {job.seed} {job.planner}"
                + (f" #{job.candidate}" if job.candidate >= 0 else "")
                + f" ({result['wall_s']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            yield job, result


def select_traces(names: str | None) -> tuple[SuiteTrace, ...]:
    if not names:
        return SUITE
    known = {t.name: t for t in SUITE}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(
            f"--suite-traces: unknown {', '.join(unknown)}. Fix: names from {', '.join(known)}"
        )
    return tuple(known[n] for n in wanted)


def main(args: argparse.Namespace, run_one: RunOne) -> int:
    traces = select_traces(args.suite_traces)
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else SEEDS
    candidates = args.candidates or [args.forecast_config]
    names = [p for p in args.planners.split(",") if p]
    baselines = tuple(p for p in names if p in BASELINES)
    jobs = jobs_for(traces, seeds, len(candidates), baselines)
    started = time.perf_counter()
    file = Path(args.results) if args.results else None
    kept = read_results(file)
    reused = sum(job_key(j, candidates) in kept for j in jobs)
    results = list(run_all(run_one, args, jobs, candidates, args.workers, file))
    wall = time.perf_counter() - started
    score = _score()
    cases = score.cases_from(results)
    rows, chosen = score.summarise(cases, traces, len(candidates))
    per_planner: dict[str, list[float]] = {}
    for job, result in results:
        per_planner.setdefault(job.planner, []).append(result["wall_s"])
    walls = {
        p: {"runs": len(w), "total_s": round(sum(w), 1), "mean_s": round(sum(w) / len(w), 1)}
        for p, w in per_planner.items()
    }
    targets = score.targets_for(rows, wall, reused)
    machine = host()
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "scaling-suite",
                    "machine": machine,
                    "workers": args.workers,
                    "wall_s": round(wall, 1),
                    "seeds": list(seeds),
                    "traces": [t.name for t in traces],
                    "candidates": candidates,
                    "chosen": chosen,
                    "wall_per_planner": walls,
                    "rows": rows,
                    "targets": targets,
                }
            )
        )
    else:
        score.print_report(rows, walls, targets, seeds, machine, wall, candidates)
    return exit_status(targets)


def candidates_option(text: str) -> list[dict[str, Any]]:
    """`--candidates`: a JSON list of forecast-planner settings (objects)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {text!r}") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise argparse.ArgumentTypeError(
            f"expected a non-empty JSON list of objects, e.g. '[{{}}, {{\"hysteresis\": 0.3}}]', "
            f"got {text!r}"
        )
    return value
