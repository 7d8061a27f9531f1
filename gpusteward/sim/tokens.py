"""Tokens per request in the simulator: each served request's input and output lengths,
time to first token and time per output token, drawn and tallied per step.

A step's served requests get lengths drawn from the model's `TokenTable` window (one
uniform number each picks one of its 1,000 equally likely lengths), a GPU type drawn by the ready
replicas' share of the step's capacity, and:
- time to first token = its queueing delay (spread evenly over each delay piece) +
  input tokens / prefill speed of that GPU type;
- time per output token = idle decode time of that GPU type x (1 + batch_slowdown x the
  step's utilisation, served / capacity).
Sums and log-binned histograms (100 bins a decade) keep the run's figures; a
`RequestLog`, when attached, keeps every request for an independent recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpusteward.sim.queueing import Piece
from gpusteward.sim.token_files import QUANTILES, TokenTable, load_token_table
from gpusteward.sim.token_spec import TokenSpec

_LOWEST, _PER_DECADE = -4, 100
_EDGES = np.concatenate(([0.0], np.logspace(-4, 4, 801)))  # 100 bins a decade, 0.1 ms .. 3 h


@dataclass
class LogHistogram:
    """Counts on fixed log-spaced bins; a quantile interpolates inside its bin."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(_EDGES) - 1))

    def __getstate__(self) -> dict[str, np.ndarray]:
        # a checkpoint is written every tick: only the bins in use (a few dozen of 801)
        used = np.flatnonzero(self.counts).astype(np.int16)
        return {"bins": used, "counts": self.counts[used]}

    def __setstate__(self, state: dict[str, np.ndarray]) -> None:
        self.counts = np.zeros(len(_EDGES) - 1)
        self.counts[state["bins"]] = state["counts"]

    def add(self, values: np.ndarray) -> None:
        if len(values):
            # bin i + 1 holds [10^(i/100 - 4), 10^((i+1)/100 - 4)); bin 0 everything below
            idx = np.floor(np.log10(np.maximum(values, 1e-9)) * _PER_DECADE).astype(np.intp)
            idx += 1 - _LOWEST * _PER_DECADE
            np.maximum(idx, 0, out=idx)
            np.minimum(idx, len(self.counts) - 1, out=idx)
            self.counts += np.bincount(idx, minlength=len(self.counts))

    def add_many(self, value: float, count: int) -> None:
        """`count` requests of the same value (a step's time per output token)."""
        i = int(np.floor(np.log10(max(value, 1e-9)) * _PER_DECADE)) + 1 - _LOWEST * _PER_DECADE
        self.counts[min(max(i, 0), len(self.counts) - 1)] += count

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def quantile(self, q: float) -> float:
        return self.quantiles((q,))[0]

    def quantiles(self, qs: tuple[float, ...]) -> tuple[float, ...]:
        """Each q-quantile (0 for an empty histogram), from one cumulative sum."""
        cum = np.cumsum(self.counts)
        total = cum[-1]
        if total <= 0.0:
            return tuple(0.0 for _ in qs)
        targets = np.asarray(qs) * total
        i = np.minimum(np.searchsorted(cum, targets, "left"), len(self.counts) - 1)
        before = np.where(i > 0, cum[i - 1], 0.0)
        inside = self.counts[i]
        share = np.divide(targets - before, inside, out=np.ones_like(targets), where=inside > 0)
        values = _EDGES[i] + share * (_EDGES[i + 1] - _EDGES[i])
        return tuple(float(v) for v in values)


@dataclass
class TokenTally:
    """Cumulative per-token counters of one deployment."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    prefill_seconds: float = 0.0  # summed over requests: input tokens / prefill speed
    decode_seconds: float = 0.0  # summed over requests: output tokens x time per token
    busy_gpu_seconds: float = 0.0  # ready GPU time x the step's utilisation
    ttft: LogHistogram = field(default_factory=LogHistogram)
    tpot: LogHistogram = field(default_factory=LogHistogram)


@dataclass
class StepTokens:
    """The requests one step served: arrays of one value per request."""

    inputs: np.ndarray
    outputs: np.ndarray
    ttft: np.ndarray
    tpot: np.ndarray
    prefill: np.ndarray
    tpot_levels: list[tuple[float, int]]  # the step's distinct times per token, with counts


def piece_delays(pieces: list[Piece], n: int) -> np.ndarray:
    """One queueing delay per served request: each piece's requests spread evenly over
    its [min, max] delay (midpoints of n equal parts)."""
    if len(pieces) == 1 and pieces[0][2] <= 0.0:
        return np.zeros(n)
    parts = []
    for count, lo, hi in pieces:
        if count <= 0:
            continue
        if hi <= lo:
            parts.append(np.full(count, lo))
        else:
            parts.append(lo + (hi - lo) * (np.arange(count) + 0.5) / count)
    out = np.concatenate(parts) if parts else np.zeros(0)
    return out[:n] if len(out) >= n else np.concatenate((out, np.zeros(n - len(out))))


class TokenSampler:
    """Draws a model's per-request tokens and latencies from its spec's table (the random
    stream is the caller's: it lives in the checkpointed state)."""

    def __init__(self, spec: TokenSpec, offset_seconds: float) -> None:
        self.spec = spec
        self.offset_seconds = offset_seconds
        self.table: TokenTable = load_token_table(spec.files, spec.format, spec.weights)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def draw(
        self,
        rng: np.random.Generator,
        t: float,
        pieces: list[Piece],
        served: int,
        gpu_capacity: dict[str, float],
        utilisation: float,
    ) -> StepTokens:
        """Tokens and latencies of the `served` requests of the step starting at `t`."""
        spec = self.spec
        w = self.table.window_at(t + self.offset_seconds)
        types = list(gpu_capacity)
        mixed = len(types) > 1
        picks = (rng.random((3 if mixed else 2) * served) * QUANTILES).astype(np.intp)
        inputs = self._lengths(self.table.inputs, w)[picks[:served]]
        outputs = self._lengths(self.table.outputs, w)[picks[served : 2 * served]]
        slowdown = 1.0 + spec.batch_slowdown * min(1.0, utilisation)
        if not mixed:
            prefill_tps, decode = spec.gpu_speeds(types[0])
            prefill = inputs / prefill_tps
            tpot = np.full(served, decode * slowdown)
            levels = [(decode * slowdown, served)]
        else:
            # the GPU type serving each request, by its share of the step's capacity
            weights = np.array([gpu_capacity[g] for g in types])
            bounds = np.cumsum(weights / weights.sum()) * QUANTILES
            pick = np.searchsorted(bounds, picks[2 * served :], "right")
            np.minimum(pick, len(types) - 1, out=pick)
            speeds = np.array([spec.gpu_speeds(g) for g in types])
            prefill = inputs / speeds[pick, 0]
            tpot = speeds[pick, 1] * slowdown
            counts = np.bincount(pick, minlength=len(types))
            levels = [(float(speeds[i, 1] * slowdown), int(c)) for i, c in enumerate(counts) if c]
        ttft = piece_delays(pieces, served) + prefill
        return StepTokens(inputs, outputs, ttft, tpot, prefill, levels)

    def _lengths(self, quantiles: np.ndarray, window: int) -> np.ndarray:
        """A window's lengths (at least 1 token) per probability slice, kept on first use."""
        key = (id(quantiles), window)
        lengths = self._cache.get(key)
        if lengths is None:
            lengths = np.maximum(1.0, np.rint(quantiles[window]))
            self._cache[key] = lengths
        return lengths


def tally_step(tally: TokenTally, step: StepTokens, busy_gpu_seconds: float) -> None:
    """Add one step's requests (and its busy GPU time) to the run's counters."""
    tally.requests += len(step.inputs)
    tally.input_tokens += int(step.inputs.sum())
    tally.output_tokens += int(step.outputs.sum())
    tally.prefill_seconds += float(step.prefill.sum())
    tally.decode_seconds += float(step.outputs @ step.tpot)
    tally.busy_gpu_seconds += busy_gpu_seconds
    tally.ttft.add(step.ttft)
    for value, count in step.tpot_levels:
        tally.tpot.add_many(value, count)


@dataclass
class LoggedStep:
    """What one deployment's step cost and used: the request log's per-step row."""

    t: float
    gpu_seconds: float
    ready_gpu_seconds: float
    cost_usd: float
    served: int
    capacity: float


@dataclass
class RequestLog:
    """Every served request of a run, per deployment (memory: about 20 bytes a request),
    and each step's GPU time and cost: what an independent recomputation reads."""

    requests: dict[str, list[StepTokens]] = field(default_factory=dict)
    steps: dict[str, list[LoggedStep]] = field(default_factory=dict)

    def add(self, key: str, row: LoggedStep, tokens: StepTokens | None) -> None:
        self.steps.setdefault(key, []).append(row)
        if tokens is not None and len(tokens.inputs):
            # single precision: exact for token counts, 1e-7 relative for seconds
            f32 = np.float32
            kept = StepTokens(
                tokens.inputs.astype(f32),
                tokens.outputs.astype(f32),
                tokens.ttft.astype(f32),
                tokens.tpot.astype(f32),
                tokens.prefill.astype(f32),
                tokens.tpot_levels,
            )
            self.requests.setdefault(key, []).append(kept)

    def column(self, key: str, name: str) -> np.ndarray:
        """One field (inputs, outputs, ttft, tpot, prefill) of every logged request."""
        parts = [getattr(s, name) for s in self.requests.get(key, [])]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
