"""`gpusteward forecast backtest`: rolling-origin backtest of every forecaster on a trace.

Reads a ServeGen total or per-client rate file, or a request-level CSV (Azure format,
counted into windows), trains on all but the last `--test` of it, and prints MASE
(scaled by seasonal naive), sMAPE, pinball loss and 80 % band coverage per forecaster,
plus the daemon's online mix ("chosen"); bands and mix weights are updated online from
realised targets only. Writes a PNG of the mix's band vs actual.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from gpusteward.cli.terminal import figures_table
from gpusteward.core.errors import InputError
from gpusteward.core.user_files import option_duration, png_option, save_png

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes

    from forecasting.evaluate import SeriesReport, TestPaths

app = typer.Typer(
    help="Forecasting tools: backtests, and a forecast past a trace's end.", no_args_is_help=True
)
out = Console(width=160)


# the options both forecast commands take, with one help text
DataOption = Annotated[Path, typer.Option(help="Trace CSV: ServeGen total/client, or Azure.")]
WindowOption = Annotated[
    str | None,
    typer.Option(
        help="Windows this long: a request log (Azure) is counted into them (10m), a "
        "rate file's own windows are joined into them (a multiple of those)."
    ),
]


def whole_windows(option: str, value: str, step: float) -> int:
    """How many of the trace's `step`-second windows `value` spans: an InputError when it
    is shorter than one, or not a whole number of them (no silent rounding)."""
    from gpusteward.sim.trace_rates import fmt_duration

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
    from forecasting.guards import MAX_MIX_STEPS, horizon_problem
    from gpusteward.sim.trace_rates import fmt_duration

    steps = whole_windows("--horizon", horizon, step)
    if horizon_problem(steps * step, step) is None:
        return steps
    join = next(k for k in range(math.ceil(steps / MAX_MIX_STEPS), steps + 1) if steps % k == 0)
    raise InputError(
        f"--horizon {horizon}: {steps} windows of {step:g} s, more than the online mix "
        f"takes ({MAX_MIX_STEPS}). Fix: at most {fmt_duration(MAX_MIX_STEPS * step)} ahead, or "
        f"longer windows, e.g. --window {fmt_duration(join * step)}."
    )


def report_table(report: SeriesReport, title: str) -> Table:
    table = figures_table(title, ("forecaster", "MASE", "sMAPE", "pinball", "80 % coverage"))
    for s in (*(s for s in report.scores if s.method != "online-mix"), report.chosen):
        table.add_row(
            s.method, f"{s.mase:.3f}", f"{s.smape:.3f}", f"{s.pinball:.3f}", f"{s.coverage:.1%}"
        )
    return table


@contextmanager
def png_chart(png: Path) -> Iterator[Axes]:
    """The axes of one 14 x 4 in chart for the caller to draw on; then written to `png`
    with its legend, and closed even when drawing or writing fails. matplotlib (Agg: no
    display needed) is loaded only here, by the forecast commands that plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 4))
    try:
        yield ax
        ax.legend()
        fig.tight_layout()
        save_png(fig, png)
    finally:
        plt.close(fig)


def plot_band(y: np.ndarray, paths: TestPaths, steps: int, title: str, png: Path) -> None:
    import numpy as np

    at = paths.origins + steps - 1
    with png_chart(png) as ax:
        ax.fill_between(at, paths.p10, paths.p90, alpha=0.3, label="p10-p90")
        ax.plot(at, paths.point, lw=1, label="forecast")
        ax.plot(at, y[np.clip(at, 0, len(y) - 1)], lw=1, color="black", label="actual")
        ax.set_title(title)
        ax.set_xlabel("window index")
        ax.set_ylabel("req/s")


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
    from forecasting.evaluate import evaluate_series
    from gpusteward.sim.trace_rates import (
        load_client_rates,
        load_rates,
        trace_origin,
        trace_start,
        training_windows,
    )

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
