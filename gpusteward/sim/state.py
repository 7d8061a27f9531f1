"""Everything a simulator run mutates, in one picklable object (the checkpoint's content)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpusteward.sim.faults import FaultInjector
from gpusteward.sim.fleet import Fleet
from gpusteward.sim.queueing import DelayHistogram, ModelQueue, Piece
from gpusteward.sim.tokens import TokenTally
from gpusteward.sim.traces import ArrivalTrace
from gpusteward.sim.wakes import WakeLog


@dataclass
class Tally:
    """Cumulative counters of one deployment since the start of the run."""

    arrived: int = 0
    served: int = 0
    dropped: int = 0
    dropped_on_removal: int = 0  # of `dropped`: killed in flight when a replica was removed
    dropped_on_failure: int = 0  # of `dropped`: killed in flight by a fault
    served_within_slo: int = 0
    gpu_hours: float = 0.0
    cost_usd: float = 0.0
    delays: DelayHistogram = field(default_factory=DelayHistogram)
    tokens: TokenTally | None = None  # for a model with a `tokens` spec


@dataclass
class IntervalTally:
    """Counters of one deployment since the previous snapshot."""

    steps: int = 0
    arrived: int = 0
    addressed: int = 0  # merged adapter: requests for it, served by its runtime (see engine)
    served: int = 0
    dropped: int = 0
    capacity: float = 0.0  # requests the ready replicas could have served
    within_slo: int = 0
    zero_delay: int = 0  # served without waiting (kept out of `pieces` to keep it short)
    pieces: list[Piece] = field(default_factory=list)
    running: int = 0  # at the end of the last step
    ttft: list[np.ndarray] = field(default_factory=list)  # per step, per request served
    tpot: list[tuple[float, int]] = field(default_factory=list)  # (time per token, requests)


@dataclass
class SimState:
    spec_digest: str
    fleet: Fleet
    queues: dict[str, ModelQueue]
    traces: dict[str, ArrivalTrace]
    arrival_rngs: dict[str, np.random.Generator]
    faults: FaultInjector
    tallies: dict[str, Tally]
    intervals: dict[str, IntervalTally]
    step: int = 0  # whole steps simulated so far
    routes: dict[str, str] = field(default_factory=dict)  # consolidated source -> into
    executed: set[str] = field(default_factory=set)  # action ids applied
    wakes: dict[str, WakeLog] = field(default_factory=dict)  # per deployment, from zero
    token_rngs: dict[str, np.random.Generator] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, object]) -> None:
        # a checkpoint written before per-token figures has no token draws to continue
        state.setdefault("token_rngs", {})
        self.__dict__.update(state)
