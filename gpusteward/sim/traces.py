"""Request traces turned into per-step arrival counts.

A `TraceSpec` names a CSV file and its format; `ArrivalTrace` loads it once into numpy
arrays and draws how many requests arrive in one simulator step. Burstiness follows the
trace (servegen-client rows carry their own CV) or `TraceSpec.burstiness_cv`: the count
in a step has variance / mean close to cv^2 (1 = Poisson, 0 = deterministic).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gpusteward.core.errors import ScenarioError
from gpusteward.sim.spec import TraceFormat, TraceSpec
from gpusteward.user_files import read_user_file


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


@lru_cache(maxsize=32)
def _load(path: Path, fmt: TraceFormat, mtime_ns: int) -> RateTable | RequestTimes:
    del mtime_ns  # part of the cache key only: an edited file is read again
    if fmt == "azure-requests":
        return _load_azure(path)
    return _load_servegen(path, fmt)


def load_trace_data(path: Path, fmt: TraceFormat) -> RateTable | RequestTimes:
    """Read and parse a trace file (cached per path, format and modification time)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1
    return _load(path, fmt, mtime)


class ArrivalTrace:
    """Draws per-step arrival counts from one trace; holds only a fractional carry as state."""

    def __init__(self, spec: TraceSpec) -> None:
        self.spec = spec
        self.data = load_trace_data(spec.file, spec.format)
        self.carry = 0.0  # fractional requests owed by deterministic rounding
        length = self.data.duration_seconds
        if not spec.loop and spec.offset_seconds >= length:
            raise ScenarioError(
                f"{spec.file}: trace offset_seconds {spec.offset_seconds:.0f} is past the "
                f"trace's end ({length:.0f} s) and loop is off: no request would arrive. Fix: "
                f"an offset under {length:.0f} s, or loop: true."
            )

    def __getstate__(self) -> dict[str, object]:
        # Checkpoints carry only the mutable carry; the data is re-read (and cached) on load.
        return {"spec": self.spec, "carry": self.carry}

    def __setstate__(self, state: dict[str, object]) -> None:
        spec = state["spec"]
        assert isinstance(spec, TraceSpec)
        self.spec = spec
        self.data = load_trace_data(spec.file, spec.format)
        carry = state["carry"]
        assert isinstance(carry, float)
        self.carry = carry

    def _trace_time(self, t: float) -> float | None:
        """Where trace time `t` (seconds since start) falls in the file; None past its end."""
        duration = self.data.duration_seconds
        pos = t + self.spec.offset_seconds
        if self.spec.loop:
            return pos % duration
        return pos if pos < duration else None

    def window_at(self, t: float) -> int | None:
        """Index of the rate-table window that time `t` falls in; None past the trace's end
        or for a request-level trace."""
        if not isinstance(self.data, RateTable):
            return None
        pos = self._trace_time(t)
        return None if pos is None else int(pos // self.data.window_seconds)

    def expected(self, t: float, dt: float) -> float:
        """Mean number of requests in [t, t + dt) for a rate trace (scale included)."""
        data = self.data
        scale = self.spec.scale * self.spec.multiplier_at(t)
        if not isinstance(data, RateTable):
            return float(self.count_requests(t, dt)) * scale
        pos = self._trace_time(t)
        if pos is None:
            return 0.0
        return float(data.rates[int(pos // data.window_seconds)]) * scale * dt

    def count_requests(self, t: float, dt: float) -> int:
        """Real requests of a request trace in [t, t + dt), before scaling."""
        data = self.data
        assert isinstance(data, RequestTimes)
        pos = self._trace_time(t)
        if pos is None:
            return 0
        times, duration = data.times, data.duration_seconds
        end = pos + dt
        n = 0
        while end > pos:  # a step may wrap around the end of a looping trace
            stop = min(end, duration)
            n += int(np.searchsorted(times, stop, "left") - np.searchsorted(times, pos, "left"))
            if not self.spec.loop or end <= duration:
                break
            pos, end = 0.0, end - duration
        return n

    def arrivals(self, t: float, dt: float, rng: np.random.Generator) -> int:
        """Requests arriving in the step [t, t + dt), t in seconds since the start."""
        data = self.data
        scale = (
            self.spec.scale * self.spec.multiplier_at(t) if self.spec.events else self.spec.scale
        )
        if isinstance(data, RequestTimes):
            return self._scaled(self.count_requests(t, dt), rng, scale)
        pos = self._trace_time(t)
        if pos is None:
            return 0
        i = int(pos // data.window_seconds)
        mean = float(data.rates[i]) * scale * dt
        if mean <= 0.0:
            return 0
        cv = float(data.cvs[i]) if data.cvs is not None else self.spec.burstiness_cv
        return self._bursty(mean, cv, rng)

    def _scaled(self, n: int, rng: np.random.Generator, scale: float) -> int:
        if scale == 1.0 or n == 0:
            return n
        whole = math.floor(scale)
        extra = int(rng.binomial(n, scale - whole)) if scale > whole else 0
        return n * whole + extra

    def _deterministic(self, mean: float) -> int:
        total = mean + self.carry
        n = math.floor(total)
        self.carry = total - n
        return n

    def _bursty(self, mean: float, cv: float, rng: np.random.Generator) -> int:
        """A count with E = mean and Var / E ~= cv^2."""
        c2 = cv * cv
        if c2 == 0.0:
            return self._deterministic(mean)
        if c2 < 1.0:  # under-dispersed: a deterministic part plus a Poisson part
            return self._deterministic(mean * (1.0 - c2)) + int(rng.poisson(mean * c2))
        if c2 == 1.0:
            return int(rng.poisson(mean))
        extra = c2 - 1.0  # over-dispersed: Poisson with a gamma-distributed rate
        return int(rng.poisson(rng.gamma(mean / extra, extra)))
