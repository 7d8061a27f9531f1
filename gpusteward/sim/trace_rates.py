"""Any trace file as request rates per window: its format told from its header, a request
log (Azure) counted into windows, a rate file's windows joined, the client files under a
total checked against it, and the date its first window began. Used by the forecast
commands, the scaling and forecast benchmarks, and every error names the option that gave
the file and the fix."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gpusteward.core.errors import InputError
from gpusteward.core.user_files import read_user_first_line
from gpusteward.sim.spec import TraceFormat
from gpusteward.sim.traces import RateTable, load_trace_data

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # traces carry relative times: a Monday


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


def training_windows(path: Path, windows: int, step: float, held: int, test: str) -> int:
    """Windows left for training once `held` are held out, or an InputError naming the fix."""
    if windows - held < 2:
        raise InputError(
            f"--data {path}: {windows} windows of {step:g} s, and the test of {test} holds "
            f"{held}: fewer than 2 are left for training. Fix: give a longer trace or a "
            "shorter --test, or for a request log (Azure) shorter windows, e.g. --window 1m."
        )
    return windows - held


def fmt_duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
