"""Token-length distributions read from files into quantile tables, one per time window.

Every source becomes a `TokenTable`: for each window (ServeGen: 6 hours; Azure: the whole
trace) the input and output token counts at fixed probabilities `PROBS` (the inverse
CDF). Drawing a request's length is one uniform number looked up in it. ServeGen's
`chunk-*-dataset.json` files hold a probability per token count per window; several
clients are mixed per window by weight. Tables are cached per path set and mtime.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gpusteward.core.errors import ScenarioError
from gpusteward.core.user_files import read_user_file
from gpusteward.sim.token_spec import TokenFormat

# the inverse CDF is kept at the mid-points of 1,000 equal slices of probability: a draw
# picks a slice and takes its length (the source's mean to within 0.1 % of its mass)
QUANTILES = 1000
PROBS = (np.arange(QUANTILES) + 0.5) / QUANTILES
FIELDS = ("input_tokens", "output_tokens")


@dataclass(frozen=True)
class TokenTable:
    """Quantiles of input and output tokens per window: shape (windows, len(PROBS))."""

    window_seconds: float
    inputs: np.ndarray
    outputs: np.ndarray
    mean_inputs: np.ndarray  # the exact mean of each window's distribution
    mean_outputs: np.ndarray

    @property
    def duration_seconds(self) -> float:
        return self.window_seconds * len(self.inputs)

    def window_at(self, t: float) -> int:
        """The window time `t` (seconds into the trace) falls in; the table loops."""
        return int((t % self.duration_seconds) // self.window_seconds)


def _fail(path: Path, where: str, seen: str, expected: str) -> ScenarioError:
    return ScenarioError(
        f"{path}: {where} {seen[:120]!r}: expected {expected}. Fix: give a token-length file "
        "in the format the model's `tokens.format` names (servegen-dataset, azure-requests "
        "or token-quantiles)."
    )


def _quantiles(values: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Inverse CDF of a discrete distribution (`values` sorted, `probs` summing to 1)."""
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, PROBS, "left")
    return values[np.minimum(idx, len(values) - 1)].astype(float)


def _distribution(path: Path, window: str, field: str, text: object) -> dict[int, float]:
    if not isinstance(text, str):
        raise _fail(path, f"window {window} {field}", str(text), "a string '{tokens: p, ...}'")
    try:
        parsed = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError):
        raise _fail(path, f"window {window} {field}", text, "'{tokens: p, ...}'") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, int) and isinstance(v, float | int) and v >= 0 and k >= 0
        for k, v in parsed.items()
    ):
        raise _fail(path, f"window {window} {field}", text, "integer tokens -> probability >= 0")
    return {int(k): float(v) for k, v in parsed.items()}


def _servegen_file(path: Path) -> dict[float, dict[str, dict[int, float]]]:
    text = read_user_file(path, "token-length file", error=ScenarioError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(path, "JSON", str(e), "ServeGen's chunk-*-dataset.json") from None
    if not isinstance(data, dict) or not data:
        raise _fail(path, "top level", str(data)[:80], "{window_start_s: {...}}")
    out: dict[float, dict[str, dict[int, float]]] = {}
    for window, fields in data.items():
        if not isinstance(fields, dict) or not all(f in fields for f in FIELDS):
            raise _fail(path, f"window {window}", str(fields)[:80], f"the fields {FIELDS}")
        try:
            start = float(window)
        except ValueError:
            raise _fail(path, "window", window, "a window start in seconds") from None
        out[start] = {f: _distribution(path, window, f, fields[f]) for f in FIELDS}
    return out


def _mix(parts: Sequence[tuple[float, dict[int, float]]]) -> dict[int, float]:
    mixed: dict[int, float] = {}
    for weight, dist in parts:
        total = sum(dist.values())
        if weight <= 0 or total <= 0:
            continue
        for k, p in dist.items():
            mixed[k] = mixed.get(k, 0.0) + weight * p / total
    return mixed


def servegen_table(
    paths: Sequence[Path], weights: Sequence[Sequence[float]] | Sequence[float] | None = None
) -> TokenTable:
    """Mix ServeGen clients' distributions per window. `weights`: one per file (the same
    in every window), or one row per window of one weight per file (e.g. each client's
    request rate in that window); equal when None. A window where every client is empty
    takes the nearest earlier window that is not (the first such: the next one)."""
    files = [_servegen_file(p) for p in paths]
    starts = sorted(files[0])
    for p, f in zip(paths, files, strict=True):
        if sorted(f) != starts:
            raise _fail(p, "windows", str(sorted(f)[:3]), f"the same windows as {paths[0].name}")
    window = starts[1] - starts[0] if len(starts) >= 2 else math.inf  # one: the whole run
    rows: list[tuple[np.ndarray, np.ndarray, float, float] | None] = []
    for w, start in enumerate(starts):
        if weights is None:
            ws: Sequence[float] = [1.0] * len(files)
        else:
            first = weights[0]
            ws = weights[w] if isinstance(first, Sequence) else weights  # type: ignore[assignment]
        row: list[tuple[np.ndarray, float]] = []
        for field in FIELDS:
            dist = _mix([(float(x), f[start][field]) for x, f in zip(ws, files, strict=True)])
            if not dist:
                row = []
                break
            values = np.array(sorted(dist), dtype=float)
            probs = np.array([dist[int(v)] for v in values])
            row.append((_quantiles(values, probs), float(values @ probs / probs.sum())))
        rows.append((row[0][0], row[1][0], row[0][1], row[1][1]) if row else None)
    filled = _fill_gaps(rows, paths[0])
    return TokenTable(
        window,
        np.array([r[0] for r in filled]),
        np.array([r[1] for r in filled]),
        np.array([r[2] for r in filled]),
        np.array([r[3] for r in filled]),
    )


def _fill_gaps(
    rows: list[tuple[np.ndarray, np.ndarray, float, float] | None], path: Path
) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    known = [r for r in rows if r is not None]
    if not known:
        raise _fail(path, "every window", "{}", "at least one window with a distribution")
    out = []
    last = known[0]
    for r in rows:
        last = r if r is not None else last
        out.append(last)
    return out


def azure_table(path: Path) -> TokenTable:
    """The request lengths of an Azure LLM trace, as one window."""
    lines = read_user_file(path, "token-length file", error=ScenarioError).splitlines()
    ins: list[int] = []
    outs: list[int] = []
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or (no == 1 and line.startswith("TIMESTAMP")):
            continue
        cells = line.split(",")
        try:
            a, b = int(cells[1]), int(cells[2])
        except (ValueError, IndexError):
            raise _fail(
                path, f"line {no}", line, "TIMESTAMP,ContextTokens,GeneratedTokens"
            ) from None
        if a < 0 or b < 0:
            raise _fail(path, f"line {no}", line, "token counts >= 0")
        ins.append(a)
        outs.append(b)
    if not ins:
        raise _fail(path, "rows", "", "at least one request")
    a_arr, b_arr = np.array(ins, dtype=float), np.array(outs, dtype=float)
    return TokenTable(
        math.inf,
        np.quantile(a_arr, PROBS, method="inverted_cdf")[None, :],
        np.quantile(b_arr, PROBS, method="inverted_cdf")[None, :],
        np.array([a_arr.mean()]),
        np.array([b_arr.mean()]),
    )


def quantile_table(path: Path) -> TokenTable:
    """A table written by `write_quantiles`."""
    lines = [x for x in read_user_file(path, "token-length file", error=ScenarioError).splitlines()]
    rows = [x for x in lines if x.strip() and not x.startswith("#")]
    expected = "`window_start_s,field,mean,<one quantile per PROBS>` (see write_quantiles)"
    if not rows or not rows[0].startswith("window_start_s,field,mean"):
        raise _fail(path, "header", rows[0] if rows else "", expected)
    if len(rows[0].split(",")) != 3 + len(PROBS):
        raise _fail(path, "header", rows[0], f"{3 + len(PROBS)} columns")
    tables: dict[str, dict[float, tuple[float, np.ndarray]]] = {f: {} for f in FIELDS}
    for raw in rows[1:]:
        cells = raw.split(",")
        if len(cells) != 3 + len(PROBS) or cells[1] not in FIELDS:
            raise _fail(path, "row", raw, expected)
        try:
            nums = np.array([float(c) for c in cells[2:]])
            start = float(cells[0])
        except ValueError:
            raise _fail(path, "row", raw, expected) from None
        if not np.all(np.isfinite(nums)) or np.any(np.diff(nums[1:]) < 0) or nums[1] < 0:
            raise _fail(path, "row", raw, "finite, non-decreasing quantiles >= 0")
        tables[cells[1]][start] = (float(nums[0]), nums[1:])
    starts = sorted(tables["input_tokens"])
    if not starts or starts != sorted(tables["output_tokens"]):
        raise _fail(path, "rows", str(starts[:3]), "input_tokens and output_tokens per window")
    window = starts[1] - starts[0] if len(starts) > 1 else math.inf
    return TokenTable(
        window,
        np.array([tables["input_tokens"][s][1] for s in starts]),
        np.array([tables["output_tokens"][s][1] for s in starts]),
        np.array([tables["input_tokens"][s][0] for s in starts]),
        np.array([tables["output_tokens"][s][0] for s in starts]),
    )


def write_quantiles(table: TokenTable, path: Path, header: str = "") -> None:
    """Write `table` as CSV: `window_start_s,field,mean,q...` (readable by quantile_table)."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines.append("window_start_s,field,mean," + ",".join(f"{p:.4f}" for p in PROBS))
    window = table.window_seconds if math.isfinite(table.window_seconds) else 0.0
    for w in range(len(table.inputs)):
        for field, q, mean in (
            ("input_tokens", table.inputs[w], table.mean_inputs[w]),
            ("output_tokens", table.outputs[w], table.mean_outputs[w]),
        ):
            cells = ",".join(f"{x:g}" for x in q)
            lines.append(f"{w * window:g},{field},{mean:.6g},{cells}")
    path.write_text("\n".join(lines) + "\n")


@lru_cache(maxsize=32)
def _cached(
    paths: tuple[Path, ...], fmt: str, weights: tuple[float, ...] | None, stamp: tuple[float, ...]
) -> TokenTable:
    if fmt == "servegen-dataset":
        return servegen_table(paths, weights)
    if fmt == "azure-requests":
        return azure_table(paths[0])
    return quantile_table(paths[0])


def load_token_table(
    paths: Sequence[Path], fmt: TokenFormat, weights: Sequence[float] | None = None
) -> TokenTable:
    """The token table of a model's `tokens` source (cached per files and mtimes)."""
    stamps = []
    for p in paths:
        try:
            stamps.append(p.stat().st_mtime)
        except OSError:
            stamps.append(-1.0)  # read_user_file names the missing file
    return _cached(tuple(paths), fmt, tuple(weights) if weights else None, tuple(stamps))
