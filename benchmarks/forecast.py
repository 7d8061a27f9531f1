"""Forecasting: every forecaster on the ServeGen totals and their largest clients.

Train on days 1-7, test on days 8-14 (rolling origin, every 10-minute window: 1,008
origins at 10 min), at horizons 10 min, 1 h and 1 day: MASE (scaled by seasonal naive),
80 % band coverage, fit + predict seconds per series. The daemon's forecaster
("chosen") is the online mix of `forecasting.online`: its weights and every
forecaster's band are updated online from targets realised before each origin, starting
four days before the test. On the two totals, which also have client series, "chosen" is
the Hedge of the total's own mix with the bottom-up sum of its 20 largest clients' mixes
and the remainder's (`forecasting.hierarchy`; it sees client series the other rows do
not; `--no-bottom-up` turns it off).
Targets (issue 25, restating issue 3's):
- per series, at 10 min and 1 h, the chosen forecaster is not significantly worse than
  the best baseline (picked per series in hindsight): a one-sided paired Diebold-Mariano
  test at 5 % on per-origin errors;
- on at least one total, the totals' own online mix (the series the daemon collects) is
  >= 10 % better than last value at 1 h;
- on every total, the chosen forecaster's 1 d 80 % band covers 70-90 % of the targets
  over the test's rolling origins (the last 7 days);
- fit + predict of 100 series of 14 days at 10 minutes takes <= 60 s (the daemon's
  `AutoForecaster.forecast_many`, Prophet fits on 2 threads).

    python benchmarks/forecast.py [--data FILE ...] [--clients 20] [--json]
        [--test-days 7 | --test 2d] [--horizons 10m,1h,1d] [--window 10m]

`--data` replaces the ServeGen series with any trace files (ServeGen total / client
rates, or Azure request CSVs counted into `--window` windows, 10 minutes by default);
each file is its own row group, scored on the per-series target (the totals' and the
timing targets need the ServeGen series). A horizon longer than the test period, or
shorter than a window, is left out with a line saying so; a trace too short for its
test period is an error naming the file and the fix (e.g. an hour of Azure requests:
`--window 1m --test 15m --horizons 1m,5m`).

This script scores the series; `forecast_report.py` holds the targets, the summary and
the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.forecast_report import print_tables, summarise, targets_for
from benchmarks.targets import exit_status, host, print_targets
from forecasting.auto import AutoForecaster, AutoForecasterConfig
from forecasting.evaluate import SeriesReport, evaluate_series
from gpusteward.core.errors import InputError
from gpusteward.core.load import LoadSeries
from gpusteward.core.user_files import option_duration
from gpusteward.sim.trace_rates import EPOCH, fmt_duration, load_rates, training_windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "servegen"
HORIZONS = {"10m": 600.0, "1h": 3600.0, "1d": 86_400.0}
START = EPOCH  # the traces carry relative times: the CLI's Monday
DAY = 86_400.0


def largest_clients(model: str, n: int) -> list[Path]:
    files = sorted((DATA / model).glob("chunk-*-trace.csv"))
    means = [(float(load_rates(f)[0].mean()), f) for f in files]
    return [f for _, f in sorted(means, key=lambda t: -t[0])[:n]]


Series = tuple[str, Path, tuple[Path, ...], str]


def series_list(args: argparse.Namespace) -> list[Series]:
    """(name, file, the files of its children: a total's clients, for bottom-up, and the
    table it is scored in: its own for a total or a --data file, its model's for a client)."""
    if args.data:
        files = list(dict.fromkeys(Path(p).resolve() for p in args.data))  # once each
        names = [f.stem for f in files]
        # each file its own series and table: two files of one name go by their paths
        named = [n if names.count(n) == 1 else str(f) for n, f in zip(names, files, strict=True)]
        return [(n, f, (), n) for n, f in zip(named, files, strict=True)]
    out: list[Series] = []
    for model in ("m-large", "m-mid"):
        clients = tuple(sorted((DATA / model).glob("chunk-*-trace.csv")))
        total = DATA / f"servegen_{model}_total_rate_10min.csv"
        name = f"{model} total"
        out.append((name, total, clients if args.bottom_up else (), name))
    for model in ("m-large", "m-mid"):
        group = f"{model} clients (median)"
        out += [(f"{model} {f.stem}", f, (), group) for f in largest_clients(model, args.clients)]
    return out


def run_series(
    name: str,
    path: Path,
    test_seconds: float,
    children: tuple[Path, ...] = (),
    horizons: tuple[float, ...] = tuple(HORIZONS.values()),
    window: float | None = None,
) -> list[SeriesReport]:
    y, step = load_rates(path, window)
    train = len(y) - round(test_seconds / step)
    kids = np.stack([load_rates(f)[0] for f in children]) if children else None
    if kids is not None and kids.shape[1] != len(y):
        raise ValueError(f"{name}: children have {kids.shape[1]} windows, the total {len(y)}")
    reports = []
    for seconds in horizons:
        steps = max(1, round(seconds / step))
        report, _ = evaluate_series(name, y, START, step, train, steps, children=kids)
        reports.append(report)
    return reports


def timing(workers: int) -> tuple[float, int]:
    """Seconds for the daemon's forecaster to fit and forecast 100 fresh series a day ahead
    (Prophet fits on `workers` threads, then each series' online mix is replayed)."""
    files = [DATA / f"servegen_{m}_total_rate_10min.csv" for m in ("m-large", "m-mid")]
    files += largest_clients("m-large", 49) + largest_clients("m-mid", 49)
    series = []
    for f in files:
        y, step = load_rates(f)
        values = tuple(float(v) for v in y)
        series.append(LoadSeries(key=f.stem, start=START, step_seconds=step, values=values))
    forecaster = AutoForecaster(AutoForecasterConfig(fit_workers=workers))
    started = time.perf_counter()
    out = forecaster.forecast_many(series, DAY)
    elapsed = time.perf_counter() - started
    assert all(f.made_at == START + timedelta(days=14) for f in out)
    return elapsed, len(files)


def check_inputs(
    args: argparse.Namespace, series: list[Series]
) -> tuple[float, float | None, dict[str, float]]:
    """(test seconds, window, the horizons every series can score) or an InputError that
    names the file or option and the fix; a horizon longer than a series' test is left
    out with a line saying so."""
    test_s = option_duration("--test", args.test) if args.test else args.test_days * DAY
    window = option_duration("--window", args.window) if args.window else None
    wanted = {h.strip(): option_duration("--horizons", h.strip()) for h in args.horizons.split(",")}
    horizons = dict(wanted)
    if not (math.isfinite(test_s) and test_s > 0):
        raise InputError(
            f"--test-days {args.test_days}: not a positive number of days. Fix: e.g. 2, or "
            "--test 15m."
        )
    for name, path, _, _ in series:
        y, step = load_rates(path, window)
        held = round(test_s / step)
        training_windows(path, len(y), step, held, fmt_duration(test_s))
        for h, seconds in wanted.items():
            if h in horizons and (seconds < step or round(seconds / step) > held):
                why = "shorter than a window" if seconds < step else "longer than the test"
                print(
                    f"horizon {h} left out: {why} of {name} ({step:g} s windows, test "
                    f"{fmt_duration(test_s)})",
                    file=sys.stderr,
                )
                del horizons[h]
    if not horizons:
        raise InputError(
            f"--horizons {args.horizons}: none fits every series. Fix: horizons of at least "
            "one window and at most the --test period."
        )
    return test_s, window, horizons


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--data",
        nargs="*",
        default=None,
        help="trace files to score instead of the ServeGen totals and clients (ServeGen "
        "rates or request-level CSV); each is its own table",
    )
    parser.add_argument(
        "--clients", type=int, default=20, help="largest clients per model scored (20)"
    )
    parser.add_argument(
        "--test-days", type=float, default=7.0, help="held-out tail in days (7; see --test)"
    )
    parser.add_argument("--test", default=None, help="held-out tail as a duration (15m, 2d)")
    parser.add_argument(
        "--horizons", default="10m,1h,1d", help="comma-separated durations (default 10m,1h,1d)"
    )
    parser.add_argument(
        "--window", default=None, help="request-level traces: window to count them in (10m)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="series scored in parallel processes (default: up to 2)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-bottom-up",
        dest="bottom_up",
        action="store_false",
        help="forecast the totals from their own series only (no client series)",
    )
    args = parser.parse_args()
    if args.data is not None and not args.data:
        parser.error("--data: no files given. Fix: one or more trace files, or leave --data out")
    if args.clients < 0:
        parser.error(f"--clients {args.clients}: not a count. Fix: 0 or more, e.g. 20")
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: not a count of processes. Fix: 1 or more")
    series = series_list(args)
    try:
        test_s, window, horizons = check_inputs(args, series)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    names, paths, kids, groups = zip(*series, strict=True)
    try:
        with ProcessPoolExecutor(args.workers) as pool:
            k = len(series)
            hs = tuple(horizons.values())
            done = pool.map(run_series, names, paths, [test_s] * k, kids, [hs] * k, [window] * k)
            reports = dict(zip(names, done, strict=True))
    except ValueError as e:  # evaluate_series: a series it cannot score (no load in training)
        print(f"error: {e}", file=sys.stderr)
        return 2
    timing_s, n = timing(args.workers) if not args.data else (float("nan"), 0)
    totals = () if args.data else tuple(g for g in groups if g.endswith("total"))
    targets = targets_for(reports, timing_s, n, horizons, totals)
    machine = host()
    rows = summarise(reports, dict(zip(names, groups, strict=True)), horizons)
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "forecast",
                    "machine": machine,
                    "wall_s": round(time.perf_counter() - started, 1),
                    "summary": rows,
                    "targets": targets,
                }
            )
        )
    else:
        split = (
            "train days 1-7, test days 8-14"
            if not args.data and args.test is None and args.test_days == 7.0
            else f"test: the last {fmt_duration(test_s)} of each series, train: the rest"
        )
        print_tables(rows, machine, split)
        console = Console(width=160)
        print_targets(console, targets)
    return exit_status(targets)


if __name__ == "__main__":
    sys.exit(main())
