"""`gpusteward forecast backtest`: rolling-origin backtest of every forecaster on a trace.

Reads a ServeGen total or per-client rate file, or a request-level CSV (Azure format,
counted into windows), trains on all but the last `--test` of it, and prints MASE
(scaled by seasonal naive), sMAPE, pinball loss and 80 % band coverage per forecaster,
plus the daemon's online mix ("chosen"); bands and mix weights are updated online from
realised targets only. Writes a PNG of the mix's band vs actual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from forecasting.evaluate import SeriesReport, TestPaths, evaluate_series
from gpusteward.core.documents import parse_duration
from gpusteward.core.errors import InputError
from gpusteward.sim.spec import TraceFormat
from gpusteward.sim.traces import RateTable, load_trace_data

app = typer.Typer(
    help="Forecasting tools: backtests, and a forecast past a trace's end.", no_args_is_help=True
)
out = Console(width=160)
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # traces carry relative times: a Monday


def detect_format(path: Path) -> TraceFormat:
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline().strip()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e}). Fix: give an existing CSV file.") from None
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not a UTF-8 text file. Fix: give a CSV trace (ServeGen rates or an "
            "Azure request log), saved as UTF-8."
        ) from None
    if first.startswith("window_start_s"):
        return "servegen-total"
    if first.upper().startswith("TIMESTAMP"):
        return "azure-requests"
    return "servegen-client"


def load_rates(path: Path, window_seconds: float | None = None) -> tuple[np.ndarray, float]:
    """(rate per window, window seconds) from any supported trace file. A request-level
    trace is counted into `window_seconds` (default 600); a rate file has its own."""
    data = load_trace_data(path, detect_format(path))
    if isinstance(data, RateTable):
        if window_seconds is not None and window_seconds != data.window_seconds:
            raise InputError(
                f"--window {window_seconds:g} s: {path} is a rate file with its own "
                f"{data.window_seconds:g} s windows. Fix: leave --window out; it sets how "
                "request-level traces (Azure) are counted."
            )
        return np.asarray(data.rates, dtype=np.float64), data.window_seconds
    window_seconds = 600.0 if window_seconds is None else window_seconds
    bins = max(1, int(np.ceil(data.duration_seconds / window_seconds)))
    counts = np.bincount((data.times // window_seconds).astype(int), minlength=bins)
    return counts[:bins].astype(np.float64) / window_seconds, window_seconds


def load_client_rates(directory: Path, step: float, windows: int) -> np.ndarray:
    """(clients, windows) rates from every `*.csv` in `directory` (one file per client of
    a total, on the total's windows), or an InputError naming the file and the fix."""
    if not directory.is_dir():
        raise InputError(
            f"--clients {directory}: not a directory. Fix: give the folder holding one rate "
            "file per client of the total (ServeGen's chunk-<client>-trace.csv files)."
        )
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise InputError(
            f"--clients {directory}: no *.csv files in it. Fix: give the folder holding one "
            "rate file per client of the total."
        )
    rows = []
    for f in files:
        rates, own = load_rates(f)
        if own != step or len(rates) != windows:
            raise InputError(
                f"--clients {f}: {len(rates)} windows of {own:g} s, the total has {windows} "
                f"of {step:g} s. Fix: client files covering the total's windows, and only "
                "those, in the folder."
            )
        rows.append(rates)
    return np.stack(rows)


def report_table(report: SeriesReport, title: str) -> Table:
    table = Table(title=title)
    for col in ("forecaster", "MASE", "sMAPE", "pinball", "80 % coverage"):
        table.add_column(col, justify="left" if col == "forecaster" else "right")
    for s in (*(s for s in report.scores if s.method != "online-mix"), report.chosen):
        table.add_row(
            s.method, f"{s.mase:.3f}", f"{s.smape:.3f}", f"{s.pinball:.3f}", f"{s.coverage:.1%}"
        )
    return table


def plot_band(y: np.ndarray, paths: TestPaths, steps: int, title: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    at = paths.origins + steps - 1
    fig, ax = plt.subplots(figsize=(14, 4))
    ax.fill_between(at, paths.p10, paths.p90, alpha=0.3, label="p10-p90")
    ax.plot(at, paths.point, lw=1, label="forecast")
    ax.plot(at, y[np.clip(at, 0, len(y) - 1)], lw=1, color="black", label="actual")
    ax.set_title(title)
    ax.set_xlabel("window index")
    ax.set_ylabel("req/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def option_duration(option: str, value: str) -> float:
    """Seconds of a duration option's value (10m, 1h, 2d); an InputError naming the fix."""
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InputError(
            f"{option} {value!r}: {e}. Fix: a duration such as 10m, 1h or 1d."
        ) from None


def training_windows(path: Path, windows: int, step: float, held: int, test: str) -> int:
    """Windows left for training once `held` are held out, or an InputError naming the fix."""
    if windows - held < 2:
        raise InputError(
            f"--data {path}: {windows} windows of {step:g} s, and the test of {test} holds "
            f"{held}: fewer than 2 are left for training. Fix: give a longer trace or a "
            "shorter --test, or for a request log (Azure) shorter windows, e.g. --window 1m."
        )
    return windows - held


@app.command()
def backtest(
    data: Annotated[Path, typer.Option(help="Trace CSV: ServeGen total/client, or Azure.")],
    horizon: Annotated[str, typer.Option(help="How far ahead, e.g. 10m, 1h, 1d.")] = "1h",
    test: Annotated[str, typer.Option(help="Held-out tail of the trace.")] = "2d",
    png: Annotated[
        Path | None, typer.Option(help="Band vs actual plot; an empty value: no plot.")
    ] = Path("backtest.png"),
    prophet: Annotated[bool, typer.Option(help="Include Prophet-based forecasters.")] = True,
    window: Annotated[
        str | None,
        typer.Option(help="Request-level traces (Azure): count into windows of this (10m)."),
    ] = None,
    clients: Annotated[
        Path | None,
        typer.Option(help="Folder of per-client rate files of this total: adds bottom-up."),
    ] = None,
) -> None:
    """Rolling-origin backtest: MASE, sMAPE, pinball, coverage per forecaster."""
    seconds = None if window is None else option_duration("--window", window)
    y, step = load_rates(data, seconds)
    steps = max(1, round(option_duration("--horizon", horizon) / step))
    held = round(option_duration("--test", test) / step)
    train = training_windows(data, len(y), step, held, test)
    if held < steps:
        raise InputError(
            f"--test {test} holds {held} windows of {step:g} s, fewer than the {steps} of "
            f"--horizon {horizon}. Fix: a --test at least as long as --horizon."
        )
    kids = None if clients is None else load_client_rates(clients, step, len(y))
    try:
        report, paths = evaluate_series(
            data.stem, y, EPOCH, step, train, steps, prophet=prophet, children=kids
        )
    except ValueError as e:
        raise InputError(f"--data {data}: {e}") from None
    title = f"{data.name}: horizon {horizon} ({steps} x {step:g} s), test {test}"
    out.print(report_table(report, title))
    for note in report.notes:
        out.print(f"note: {note}")
    if png is not None and str(png) in ("", "."):  # `--png ""`: typer gives Path(".")
        png = None
    if png is not None:
        plot_band(y, paths, steps, f"{title}: {report.chosen.method}", png)
        out.print(f"plot: {png}")
