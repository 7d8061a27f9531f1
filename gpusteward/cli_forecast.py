"""`gpusteward forecast backtest`: rolling-origin backtest of every forecaster on a trace.

Reads a ServeGen total or per-client rate file, or a request-level CSV (Azure format,
counted into windows), trains on all but the last `--test` of it, and prints MASE
(scaled by seasonal naive), sMAPE, pinball loss and 80 % band coverage per forecaster,
plus the daemon's online mix ("chosen"); bands and mix weights are updated online from
realised targets only. Writes a PNG of the mix's band vs actual.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from forecasting.evaluate import SeriesReport, TestPaths, evaluate_series
from forecasting.guards import MAX_MIX_STEPS, horizon_problem
from gpusteward.core.documents import parse_duration
from gpusteward.core.errors import InputError
from gpusteward.sim.spec import TraceFormat
from gpusteward.sim.traces import RateTable, load_trace_data
from gpusteward.user_files import read_user_first_line

app = typer.Typer(
    help="Forecasting tools: backtests, and a forecast past a trace's end.", no_args_is_help=True
)
out = Console(width=160)
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # traces carry relative times: a Monday


# the options both forecast commands take, with one help text
DataOption = Annotated[Path, typer.Option(help="Trace CSV: ServeGen total/client, or Azure.")]
WindowOption = Annotated[
    str | None,
    typer.Option(
        help="Windows this long: a request log (Azure) is counted into them (10m), a "
        "rate file's own windows are joined into them (a multiple of those)."
    ),
]


def detect_format(path: Path) -> TraceFormat:
    first = read_user_first_line(
        path, "trace file", missing="give an existing CSV trace (ServeGen rates or Azure)"
    ).strip()
    if first.startswith("window_start_s"):
        return "servegen-total"
    if first.upper().startswith("TIMESTAMP"):
        return "azure-requests"
    if first.count(",") in (1, 2):  # a total's two or three columns without their header
        return "servegen-total"
    return "servegen-client"


MAX_WINDOWS = 1_000_000  # a request log counted into more windows than this: refused


def load_rates(
    path: Path, window_seconds: float | None = None, option: str = "--data"
) -> tuple[np.ndarray, float]:
    """(rate per window, window seconds) from any supported trace file. A request-level
    trace is counted into whole windows of `window_seconds` (default 600); a rate file has
    its own, or with `window_seconds` (a whole multiple of them) their mean rate over each
    window that long. A partial last window is left out rather than read as a low rate.
    Errors name `option`."""
    try:
        data = load_trace_data(path, detect_format(path))
    except InputError as e:
        raise InputError(f"{option} {e}") from None
    if isinstance(data, RateTable):
        rates, own = np.asarray(data.rates, dtype=np.float64), data.window_seconds
        if window_seconds is None or window_seconds == own:
            return rates, own
        per = window_seconds / own
        if (per < 1 or abs(per - round(per)) > 1e-6) and option != "--data":
            raise InputError(
                f"{option} {path}: its {own:g} s windows cannot be joined into the "
                f"--window of {window_seconds:g} s. Fix: files on the total's windows."
            )
        if per < 1 or abs(per - round(per)) > 1e-6:  # the --data file itself
            raise InputError(
                f"--window {window_seconds:g} s: {path} is a rate file with {own:g} s "
                f"windows; --window can only join them, in whole numbers. Fix: a multiple "
                f"of {fmt_duration(own)}, e.g. {fmt_duration(own * max(2, math.ceil(per)))}, "
                "or leave --window out."
            )
        bins = len(rates) // round(per)
        if bins < 1:
            raise InputError(
                f"--window {window_seconds:g} s: {path} holds {len(rates)} windows of "
                f"{own:g} s, less than one window of {window_seconds:g} s. Fix: a shorter "
                "--window, or leave it out."
            )
        joined = rates[: bins * round(per)].reshape(bins, round(per)).mean(axis=1)
        return joined, window_seconds
    window_seconds = 600.0 if window_seconds is None else window_seconds
    bins = int(data.duration_seconds // window_seconds)
    if bins < 1:
        raise InputError(
            f"--window {window_seconds:g} s: {path} holds {data.duration_seconds:.0f} s of "
            "requests, less than one window. Fix: a shorter --window (e.g. 1m)."
        )
    if bins > MAX_WINDOWS:
        raise InputError(
            f"--window {window_seconds:g} s: {path} would give {bins:,} windows (at most "
            f"{MAX_WINDOWS:,}). Fix: a longer --window (e.g. 1m or 10m)."
        )
    counts = np.bincount((data.times // window_seconds).astype(int), minlength=bins)
    return counts[:bins].astype(np.float64) / window_seconds, window_seconds


UNIX_FROM = 1e9  # a window_start_s this large (2001 as Unix time) is not a relative time


def trace_origin(path: Path) -> float:
    """The trace's first time as the file gives it: a rate file's first `window_start_s`,
    a request log's first TIMESTAMP in Unix seconds (through the loader's cache)."""
    return _first_time(path)[0]


def _first_time(path: Path) -> tuple[float, bool]:
    """(`trace_origin`, whether it is relative: a rate file's), from one read."""
    data = load_trace_data(path, detect_format(path))  # cached
    if isinstance(data, RateTable):
        return data.start_seconds, True
    return data.first_unix_seconds, False


def trace_start(path: Path, fix: str = "") -> datetime:
    """When the trace's first window began: a request log's first TIMESTAMP (read as
    UTC); a rate file's first `window_start_s` after `EPOCH` (they carry relative times),
    or as Unix time from `UNIX_FROM` on (no relative offset is 31 years). `fix` is
    another way out for the error (", or give --start")."""
    origin, relative = _first_time(path)
    try:
        return _date(origin, relative)
    except (OverflowError, ValueError, OSError):
        raise InputError(
            f"--data {path}: its first window starts at {origin:g} s, too far from "
            f"{EPOCH.date()} (or from 1970, as Unix time) to be a date. Fix: window_start_s "
            f"in seconds (relative to the trace's start, or Unix time){fix}."
        ) from None


def _date(origin: float, relative: bool) -> datetime:
    """`trace_start`'s reading of a first time (OverflowError etc. when it is no date)."""
    if relative and abs(origin) < UNIX_FROM:
        return EPOCH + timedelta(seconds=origin)
    return datetime.fromtimestamp(origin, UTC)


def whole_windows(option: str, value: str, step: float) -> int:
    """How many of the trace's `step`-second windows `value` spans: an InputError when it
    is shorter than one, or not a whole number of them (no silent rounding)."""
    n = option_duration(option, value) / step
    if n < 1 - 1e-9 or abs(n - round(n)) > 1e-6:
        lo, hi = max(1, math.floor(n)), max(1, math.ceil(n))
        shorter = "shorter than one" if n < 1 else "not a whole number"
        example = " or ".join(dict.fromkeys(fmt_duration(k * step) for k in (lo, hi)))
        raise InputError(
            f"{option} {value}: {shorter} of the trace's {step:g} s windows. Fix: a "
            f"multiple of them, e.g. {example}."
        )
    return round(n)


def horizon_windows(horizon: str, step: float) -> int:
    """`whole_windows` for --horizon, and no more of them than the online mix takes: then
    an InputError naming the longest horizon and the --window that would take this one."""
    steps = whole_windows("--horizon", horizon, step)
    if horizon_problem(steps * step, step) is None:
        return steps
    join = next(k for k in range(math.ceil(steps / MAX_MIX_STEPS), steps + 1) if steps % k == 0)
    raise InputError(
        f"--horizon {horizon}: {steps} windows of {step:g} s, more than the online mix "
        f"takes ({MAX_MIX_STEPS}). Fix: at most {fmt_duration(MAX_MIX_STEPS * step)} ahead, or "
        f"longer windows, e.g. --window {fmt_duration(join * step)}."
    )


def fmt_duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def png_option(png: Path | None) -> Path | None:
    """`--png`: None for no plot (`--png ""`: typer gives Path(".")); otherwise a .png file
    in an existing folder, checked before the work, not after."""
    if png is None or str(png) in ("", "."):
        return None
    if png.suffix.lower() != ".png" or png.is_dir():
        raise InputError(f"--png {png}: not a .png file name. Fix: e.g. --png band.png.")
    if not png.parent.is_dir():
        raise InputError(
            f"--png {png}: the folder {png.parent} does not exist. Fix: create it, or write "
            "the plot elsewhere."
        )
    if png.is_symlink():  # a link (perhaps to nothing yet): `save_png` finds out
        return png
    existed = png.exists()
    try:  # can it be written? Found now, not after minutes of work
        with png.open("ab"):  # appends nothing: an existing plot is left as it is
            pass
    except OSError as e:
        raise InputError(
            f"--png {png}: cannot write it ({e.strerror or e}). {_ELSEWHERE}"
        ) from None
    if not existed:
        png.unlink(missing_ok=True)
    return png


_ELSEWHERE = "Fix: a file name in a folder you can write to, or leave --png out for no plot."


def save_png(fig: Any, png: Path) -> None:
    """`fig.savefig(png)`, an InputError naming --png if it cannot be written."""
    try:
        fig.savefig(png, dpi=90)
    except OSError as e:
        raise InputError(
            f"--png {png}: cannot write it ({e.strerror or e}). {_ELSEWHERE}"
        ) from None


def load_client_rates(
    directory: Path,
    total: np.ndarray,
    step: float,
    origin: float,
    window_seconds: float | None = None,
) -> tuple[list[str], np.ndarray]:
    """Names and (clients, windows) rates of every `*.csv` in `directory` (one file per client of
    the total `total`, on its windows from `origin`, its `trace_origin`), or an InputError
    naming the file and the fix.
    Some of the clients will do (the rest is the remainder); more than the total will not:
    their sum may exceed it by 1 % of its volume at most (ServeGen's: 0.004 %)."""
    if not directory.is_dir():
        raise InputError(
            f"--clients {directory}: not a directory. Fix: give the folder holding one rate "
            "file per client of the total (ServeGen's chunk-<client>-trace.csv files)."
        )
    files = sorted(f for f in directory.iterdir() if f.suffix.lower() == ".csv" and f.is_file())
    if not files:
        raise InputError(
            f"--clients {directory}: no *.csv files in it. Fix: give the folder holding one "
            "rate file per client of the total."
        )
    rows = []
    for f in files:
        rates, own = load_rates(f, window_seconds, option="--clients")
        first = trace_origin(f)
        if own != step or len(rates) != len(total) or first != origin:
            raise InputError(
                f"--clients {f}: {len(rates)} windows of {own:g} s from {_when(first)}, "
                f"the total has {len(total)} of {step:g} s from {_when(origin)}. Fix: "
                "client files covering the total's windows, and only those, in the folder."
            )
        rows.append(rates)
    kids = np.stack(rows)
    # the loaders refuse non-finite rates, so plain sums
    volume = float(total.sum())
    excess = kids.sum(axis=0) - total
    over = float(np.maximum(excess, 0.0).sum())
    if over > 0.01 * volume + 1e-9:
        windows = int(np.count_nonzero(excess > 1e-9 + 1e-6 * total))
        raise InputError(
            f"--clients {directory}: its {len(files)} files add up to more than the total "
            f"(by {over / max(volume, 1e-12):.1%} of its volume, in {windows} of "
            f"{len(total)} windows). Fix: the folder must hold this total's per-client "
            "files only (some of them will do), not the total itself or another model's."
        )
    return [f.stem for f in files], kids


def _when(origin: float) -> str:
    """A rate file's first time for a message: its date, or the seconds the file gives."""
    try:
        return _date(origin, relative=True).isoformat()
    except (OverflowError, ValueError, OSError):
        return f"{origin:g} s"


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
    try:
        save_png(fig, png)
    finally:
        plt.close(fig)


def option_duration(option: str, value: str) -> float:
    """Seconds of a duration option's value (10m, 1h, 2d); an InputError naming the fix."""
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InputError(
            f"{option} {value!r}: {e}. Fix: a duration such as 10m, 1h or 1d."
        ) from None


def option_time(option: str, value: str) -> datetime:
    """An ISO 8601 time option's value; a time without a zone is read as UTC."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option} {value!r}: expected an ISO 8601 time, e.g. 2026-11-02T06:00:00+00:00"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
    data: DataOption,
    horizon: Annotated[str, typer.Option(help="How far ahead, e.g. 10m, 1h, 1d.")] = "1h",
    test: Annotated[str, typer.Option(help="Held-out tail of the trace.")] = "2d",
    png: Annotated[
        Path | None, typer.Option(help="Write the band vs actual plot to this .png file.")
    ] = None,
    prophet: Annotated[bool, typer.Option(help="Include Prophet-based forecasters.")] = True,
    window: WindowOption = None,
    clients: Annotated[
        Path | None,
        typer.Option(help="Folder of per-client rate files of this total: adds bottom-up."),
    ] = None,
) -> None:
    """Rolling-origin backtest: MASE, sMAPE, pinball, coverage per forecaster."""
    seconds = None if window is None else option_duration("--window", window)
    png = png_option(png)
    y, step = load_rates(data, seconds)
    steps = horizon_windows(horizon, step)
    held = whole_windows("--test", test, step)
    train = training_windows(data, len(y), step, held, test)
    if held < steps:
        raise InputError(
            f"--test {test} holds {held} windows of {step:g} s, fewer than the {steps} of "
            f"--horizon {horizon}. Fix: a --test at least as long as --horizon."
        )
    start = trace_start(data)
    origin = trace_origin(data)
    kids = None if clients is None else load_client_rates(clients, y, step, origin, seconds)[1]
    try:
        report, paths = evaluate_series(
            data.stem, y, start, step, train, steps, prophet=prophet, children=kids
        )
    except ValueError as e:
        raise InputError(f"--data {data}: {e}") from None
    title = f"{data.name}: horizon {horizon} ({steps} x {step:g} s), test {test}"
    out.print(report_table(report, title))
    for note in report.notes:
        out.print(f"note: {note}")
    if png is not None:
        plot_band(y, paths, steps, f"{title}: {report.chosen.method}", png)
        out.print(f"plot: {png}")
