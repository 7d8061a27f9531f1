"""Trace files read into arrays: ServeGen rate tables (a total, one client, or many
columns of one file) and Azure request logs, each row checked with an error that names
the file, the line and the fix. Parsed files are cached per path, format and mtime.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gpusteward.core.errors import ScenarioError
from gpusteward.core.user_files import read_user_file
from gpusteward.sim.spec import TraceFormat


@dataclass(frozen=True)
class RateTable:
    """A ServeGen trace: one rate (and inter-arrival CV) per fixed-length window."""

    window_seconds: float
    rates: np.ndarray  # requests/s per window
    cvs: np.ndarray | None  # inter-arrival CV per window, when the trace has one
    start_seconds: float = 0.0  # the first row's window_start_s

    @property
    def duration_seconds(self) -> float:
        return self.window_seconds * len(self.rates)


@dataclass(frozen=True)
class RequestTimes:
    """An Azure request trace: sorted arrival times in seconds since its first request."""

    times: np.ndarray
    duration_seconds: float
    first_unix_seconds: float = 0.0  # the first request's TIMESTAMP (zone-less: read as UTC)


def _fail(path: Path, line: int, seen: str, expected: str) -> ScenarioError:
    return ScenarioError(
        f"{path}:{line}: trace row {seen!r}: expected {expected}. "
        "Fix: correct or remove that line, or give a file in that format (in a scenario, "
        "set the trace's `format` to match the file)."
    )


def _read_lines(path: Path) -> list[str]:
    return read_user_file(
        path,
        "trace file",
        error=ScenarioError,
        missing="give an existing CSV path in the model's `trace.file` (relative to the "
        "scenario file, or absolute)",
    ).splitlines()


# The highest request rate a trace row may give (req/s). No cluster serves more: the
# busiest LLM services answer some 1e5-1e6 requests a second worldwide, so a rate above
# this is a unit or parsing error. It also keeps every tick's arrival draw computable:
# this rate times a scenario's largest `scale` (1e6) and longest step (3600 s) is 3.6e16,
# under numpy's Poisson limit (about 9.2e18); above it each tick's observe failed with
# 'lam value too large'.
MAX_RATE_RPS = 1e7

# a total's columns, by their number: a window's start and its rate, with ServeGen's
# client count or without it (the count is not read)
_TOTAL_COLUMNS = {
    2: "`window_start_s,rate`",
    3: "`window_start_s,total_rate_rps,active_clients`",
}
_CLIENT_COLUMNS = "`window_start_s,rate_rps,cv,dist,shape,scale` (headerless; rate and cv numbers)"


def _total_columns(path: Path, lines: list[str]) -> int:
    """How many columns a total's rows have: as many as its header names (a start and a
    rate, and perhaps the client count), or as its first row has, when headerless."""
    first = next((line.strip() for line in lines if line.strip()), "")
    if not first:
        return 3  # no rows at all: said as such by the caller
    cells = [c.strip() for c in first.split(",")]
    named = first.startswith("window_start_s")
    if len(cells) in _TOTAL_COLUMNS and (not named or "rate" in cells[1].lower()):
        return len(cells)
    no = next(i for i, line in enumerate(lines, start=1) if line.strip())
    raise _fail(
        path,
        no,
        first,
        f"a rate file's columns: {_TOTAL_COLUMNS[2]} or {_TOTAL_COLUMNS[3]}, with that "
        "header or none",
    )


def _load_servegen(path: Path, fmt: TraceFormat) -> RateTable:
    lines = _read_lines(path)
    header = fmt == "servegen-total"
    columns = _total_columns(path, lines) if header else 6
    expected = f"{_TOTAL_COLUMNS[columns]} with numbers" if header else _CLIENT_COLUMNS
    starts: list[float] = []
    rates: list[float] = []
    cvs: list[float] = []
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or (header and no == 1 and line.startswith("window_start_s")):
            continue
        cells = line.split(",")
        # a total's row has its header's columns (6 are a client's, its cv would be lost);
        # a client's has its 6 (3 are a total's: its client count would be read as a cv)
        if (len(cells) != columns) if header else (len(cells) < 6):
            raise _fail(path, no, line, expected)
        try:
            start, rate = float(cells[0]), float(cells[1])
            cv = 1.0 if header else float(cells[2])
        except ValueError:
            raise _fail(path, no, line, expected) from None
        if not (math.isfinite(rate) and rate >= 0 and math.isfinite(cv) and cv >= 0):
            raise _fail(path, no, line, "a finite rate >= 0 and cv >= 0")
        if rate > MAX_RATE_RPS:
            raise _fail(
                path,
                no,
                line,
                f"a rate of at most {MAX_RATE_RPS:.0f} requests/s (more than any cluster "
                f"serves; {rate:g} looks like a unit or parsing error)",
            )
        if starts and start <= starts[-1]:
            raise _fail(path, no, line, f"window_start_s increasing after {starts[-1]:g}")
        if len(starts) >= 2 and not math.isclose(
            start - starts[-1], starts[1] - starts[0], rel_tol=1e-9, abs_tol=1e-6
        ):
            window = starts[1] - starts[0]
            raise _fail(
                path,
                no,
                line,
                f"window_start_s {starts[-1] + window:g}: the windows are {window:g} s apart "
                "(as the first two rows set), and a missing window would shift every later "
                "one. A window without traffic is a row with rate 0",
            )
        starts.append(start)
        rates.append(rate)
        cvs.append(cv)
    if not rates:
        raise ScenarioError(
            f"{path}: trace has no data rows. Fix: give a {fmt} CSV with rows like "
            f"{expected} (in a scenario, as the model's `trace.file`)."
        )
    window = starts[1] - starts[0] if len(starts) > 1 else 600.0
    rate_arr = np.asarray(rates, dtype=np.float64)
    rate_arr.setflags(write=False)
    cv_arr = None if header else np.asarray(cvs, dtype=np.float64)
    if cv_arr is not None:
        cv_arr.setflags(write=False)
    return RateTable(window_seconds=window, rates=rate_arr, cvs=cv_arr, start_seconds=starts[0])


# An Azure trace's TIMESTAMP: a date, a time, optional fraction, optional zone (Z, +hh:mm, +hh).
_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE | re.ASCII,
)


def _stamp_ns(text: str) -> int | None:
    """Nanoseconds since the Unix epoch of a TIMESTAMP cell (zone-less: UTC), or None when
    it is not a date and time from 1970 to 2200 (a bare number is not: numpy would read
    it as a year)."""
    match = _STAMP.fullmatch(text)
    if match is None:
        return None
    day, clock, zone = match.groups()
    if not 1970 <= int(day[:4]) <= 2200:  # outside this, nanoseconds wrap around silently
        return None
    try:
        ns = int(np.datetime64(f"{day}T{clock}", "ns").astype(np.int64))
    except ValueError:  # 2023-02-30, 25:00
        return None
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if hours > 23 or minutes > 59:
            return None
        ns -= sign * (hours * 3600 + minutes * 60) * 1_000_000_000
    return ns


def _load_azure(path: Path) -> RequestTimes:
    lines = _read_lines(path)
    expected = (
        "`TIMESTAMP,ContextTokens,GeneratedTokens` with TIMESTAMP a date and time like "
        "2023-11-16 18:17:03.97 (UTC unless it names a zone, e.g. +01:00; not a number of "
        "seconds)"
    )
    stamps: list[int] = []
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or (no == 1 and line.upper().startswith("TIMESTAMP")):
            continue
        stamp = _stamp_ns(line.split(",", 1)[0].strip())
        if stamp is None:
            raise _fail(path, no, line, expected)
        stamps.append(stamp)
    if not stamps:
        raise ScenarioError(
            f"{path}: trace has no request rows. Fix: give an Azure LLM inference trace "
            f"with rows like {expected} (in a scenario, as the model's `trace.file`)."
        )
    ns = np.sort(np.asarray(stamps, dtype=np.int64))
    times = (ns - ns[0]).astype(np.float64) / 1e9
    gap = times[-1] / (len(times) - 1) if len(times) > 1 else 1.0
    times.setflags(write=False)
    return RequestTimes(
        times=times,
        duration_seconds=float(times[-1]) + max(gap, 1e-6),
        first_unix_seconds=float(ns[0]) / 1e9,
    )


_COLUMNS_HEADER = "a header `window_start_s,<name>,<name>:cv,...` (a `:cv` column is optional)"


def _number(path: Path, no: int, line: str, cell: str, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise _fail(path, no, line, f"{what} a number, not {cell!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise _fail(path, no, line, f"{what} a finite number >= 0, not {cell!r}")
    return value


def _load_columns(path: Path) -> dict[str, RateTable]:
    """Every series of a servegen-columns file, by name (rate columns; `<name>:cv` the
    inter-arrival CV of `<name>` when present)."""
    lines = [line.strip() for line in _read_lines(path)]
    rows = [(no, line) for no, line in enumerate(lines, start=1) if line]
    if not rows or not rows[0][1].startswith("window_start_s,"):
        no, seen = rows[0] if rows else (1, "")
        raise _fail(path, no, seen, _COLUMNS_HEADER)
    names = [c.strip() for c in rows[0][1].split(",")]
    width = len(names)
    cells = np.zeros((len(rows) - 1, width))
    for i, (no, line) in enumerate(rows[1:]):
        parts = line.split(",")
        if len(parts) != width:
            raise _fail(path, no, line, f"{width} cells, as the header names")
        for j, cell in enumerate(parts):
            cells[i, j] = _number(path, no, line, cell, f"column {names[j]!r}")
    if len(cells) == 0:
        raise ScenarioError(f"{path}: trace has no data rows. Fix: give rows under the header.")
    starts = cells[:, 0]
    window = float(starts[1] - starts[0]) if len(starts) > 1 else 600.0
    steps = np.diff(starts)
    if len(steps) and (window <= 0 or not np.allclose(steps, window, rtol=1e-9, atol=1e-6)):
        bad = int(np.flatnonzero(~np.isclose(steps, window, rtol=1e-9, atol=1e-6))[0]) + 2
        raise _fail(
            path,
            rows[bad][0],
            rows[bad][1],
            f"window_start_s {float(starts[bad - 1]) + window:g}: windows {window:g} s apart",
        )
    index = {name: j for j, name in enumerate(names)}
    out = {}
    for name, j in index.items():
        if j == 0 or name.endswith(":cv"):
            continue
        rates = cells[:, j].copy()
        if float(rates.max(initial=0.0)) > MAX_RATE_RPS:
            raise ScenarioError(
                f"{path}: column {name!r} has a rate over {MAX_RATE_RPS:.0f} requests/s. "
                "Fix: give rates in requests per second"
            )
        rates.setflags(write=False)
        cv_j = index.get(f"{name}:cv")
        cvs = cells[:, cv_j].copy() if cv_j is not None else None
        if cvs is not None:
            cvs.setflags(write=False)
        out[name] = RateTable(window_seconds=window, rates=rates, cvs=cvs, start_seconds=starts[0])
    return out


@lru_cache(maxsize=32)
def _load(path: Path, fmt: TraceFormat, mtime_ns: int) -> RateTable | RequestTimes:
    del mtime_ns  # part of the cache key only: an edited file is read again
    if fmt == "azure-requests":
        return _load_azure(path)
    return _load_servegen(path, fmt)


@lru_cache(maxsize=8)
def _load_all_columns(path: Path, mtime_ns: int) -> dict[str, RateTable]:
    del mtime_ns
    return _load_columns(path)


def load_trace_data(
    path: Path, fmt: TraceFormat, column: str | None = None
) -> RateTable | RequestTimes:
    """Read and parse a trace file (cached per path, format and modification time); for
    servegen-columns, the series `column`."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1
    if fmt != "servegen-columns":
        return _load(path, fmt, mtime)
    series = _load_all_columns(path, mtime)
    if column is None or column not in series:
        raise ScenarioError(
            f"{path}: no column {column!r} in this servegen-columns file. Fix: one of "
            f"{', '.join(sorted(series)[:20])}{' ...' if len(series) > 20 else ''}"
        )
    return series[column]
