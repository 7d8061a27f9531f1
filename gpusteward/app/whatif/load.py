"""`gpusteward whatif --load 2x`: re-run a window of a scenario (or of a recorded bundle's
scenario) at a multiple of its load, with the current planner, policy and cluster, and
find where it breaks. Composition-root only: it builds scenarios and runs the simulator.

The question is asked three ways:
- the run: the window at `load` x the trace, on the scenario's cluster, planner and
  policy (the replicas it starts with: a bundle's last snapshot, else the scenario's);
  every tick's SLO counts, replicas and free GPUs per pool are kept;
- the sizing: per step of the window, the replicas each model needs to hold its SLO at
  that load (the trace's expected rate and burstiness, the capacity at SLO of
  `agents.slo_capacity` on the model's fastest GPU type in the cluster), with no
  replica bound and no cluster limit: the GPUs and cost that would hold the SLO;
- optionally the check: the oracle planner (perfect knowledge of the load) on an
  unbounded cluster of those GPU types, judged only by hard limits; its peak GPUs are
  what the sizing must agree with.
The sizing lives in `whatif_sizing`, the answer read off the run in `whatif_answer`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from agents.baselines import OracleConfig
from gpusteward.app.replay_setup import ScenarioVariant, bundle_scenario, run_scenario
from gpusteward.app.scenario import SCENARIO_DIR, Scenario, load_scenario
from gpusteward.app.whatif.sizing import ModelNeed, fastest_type, size_to_hold
from gpusteward.core.cluster import ClusterSnapshot, ReplicaPhase
from gpusteward.core.errors import InputError
from gpusteward.core.tick import TickRecord
from gpusteward.sim.spec import LoadEvent, ModelSpec, NodeGroupSpec
from gpusteward.sim.traces import load_trace_data
from runbooks.bundle import is_bundle, read_bundle
from runbooks.series import RunOutcome, SeriesJournal

HARD_LIMITS = SCENARIO_DIR / "policies" / "hard-limits.yaml"
DAY = 86_400.0


def parse_load(text: str) -> float:
    """'2x', '2', '1.5x' or '150%' -> the multiple of the recorded load."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(x|%)?\s*", text)
    value = float(m.group(1)) / (100.0 if m and m.group(2) == "%" else 1.0) if m else -1.0
    if not 0 < value <= 1000:
        raise InputError(
            f"--load {text!r}: expected a multiple of the recorded load, e.g. 2x, 1.5x or "
            "150% (more than 0, at most 1000x)"
        )
    return value


def _offset(text: str, what: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|h|d)?\s*", text)
    if not m:
        raise InputError(
            f"--window {what} {text!r}: expected a time since the scenario's start, a number "
            "with s, m, h or d (e.g. 13d, 36h)"
        )
    unit = {"s": 1, "m": 60, "h": 3600, "d": DAY}[m.group(2) or "s"]
    return float(m.group(1)) * unit


def parse_window(text: str | None, default: tuple[float, float]) -> tuple[float, float]:
    """'START:END' (times since the scenario's start, e.g. '13d:14d') -> seconds."""
    if text is None:
        return default
    start_text, sep, end_text = text.partition(":")
    if not sep:
        raise InputError(
            f"--window {text!r}: expected START:END since the scenario's start, e.g. 13d:14d"
        )
    start, end = _offset(start_text, "start"), _offset(end_text, "end")
    if end <= start:
        raise InputError(f"--window {text!r}: the end must come after the start")
    return start, end


@dataclass(frozen=True)
class LoadQuestion:
    """What to re-run: `base` over [window start, end) seconds after its start, at `load`
    x its traces, starting from `replicas` (per deployment key) where given."""

    base: Scenario
    load: float
    window: tuple[float, float]
    source: str
    replicas: dict[str, int] = field(default_factory=dict)
    warmup_seconds: float = 3600.0

    @property
    def run_from(self) -> float:
        """Where the run starts, in seconds from the base's start: a warm-up before the
        window at the same load, so the planner has sized the cluster for it when the
        window begins (not judged). Before the base's start where every trace loops (the
        warm-up then replays the end of the trace); else no earlier than the first trace
        row any model has."""
        start = self.window[0] - self.warmup_seconds
        fixed = [m.trace.offset_seconds for m in self.base.models if not m.trace.loop]
        return max(start, -min(fixed, default=math.inf))

    @property
    def window_start(self) -> datetime:
        return self.base.start + timedelta(seconds=self.window[0])

    @property
    def label(self) -> str:
        return f"{self.load:g}x load"


def _model(m: ModelSpec, start: float, load: float, replicas: int | None) -> ModelSpec:
    events = tuple(
        LoadEvent(
            after_seconds=max(0.0, e.after_seconds - start),
            duration_seconds=e.after_seconds + e.duration_seconds - max(e.after_seconds, start),
            multiplier=e.multiplier,
        )
        for e in m.trace.events
        if e.after_seconds + e.duration_seconds > start
    )
    offset = m.trace.offset_seconds + start
    if offset < 0:  # a looping trace: the warm-up is the end of the trace
        length = load_trace_data(m.trace.file, m.trace.format, m.trace.column).duration_seconds
        offset += math.ceil(-offset / length) * length
    trace = m.trace.model_copy(
        update={
            "offset_seconds": offset,
            "scale": m.trace.scale * load,
            "events": events,
        }
    )
    update: dict[str, object] = {"trace": trace}
    if replicas is not None:
        update["replicas"] = min(m.max_replicas, max(m.min_replicas, replicas))
    return m.model_copy(update=update)


def whatif_scenario(q: LoadQuestion) -> Scenario:
    """The base scenario moved to the warm-up's start, its traces scaled by the load."""
    start, end = q.run_from, q.window[1]
    base = q.base
    if end > base.duration_seconds + DAY * 366:
        raise InputError(f"--window ends {end / DAY:g} days in: more than a year past the run")
    models = tuple(_model(m, start, q.load, q.replicas.get(m.key)) for m in base.models)
    return base.model_copy(
        update={
            "name": f"{base.name} at {q.label}",
            "start": base.start + timedelta(seconds=start),
            "duration": math.ceil(end - start),
            "models": models,
        }
    )


# -- what each tick showed ---------------------------------------------------------------


@dataclass
class TickFacts:
    """One tick of a what-if run: per model its cumulative SLO counts (served within,
    served + dropped), desired and placed replicas; per pool its healthy and free GPUs."""

    at: datetime
    within: dict[str, int]
    done: dict[str, int]
    desired: dict[str, int]
    placed: dict[str, int]
    gpus: dict[str, int]  # per deployment: GPUs its placed replicas hold
    pool_gpus: dict[str, int]
    pool_free: dict[str, int]


def tick_facts(snap: ClusterSnapshot) -> TickFacts:
    acc = snap.accounting or {}
    facts = TickFacts(snap.at, {}, {}, {}, {}, {}, {}, {})
    for d in snap.deployments:
        a = acc.get(d.key)
        facts.within[d.key] = a.served_within_slo if a else 0
        facts.done[d.key] = (a.served + a.dropped) if a else 0
        facts.desired[d.key] = d.replicas
        placed = sum(1 for r in d.replica_states if r.node is not None)
        facts.placed[d.key] = placed
        facts.gpus[d.key] = placed * d.gpus_per_replica
    for n in snap.nodes:
        healthy = [g for g in n.gpus if g.health.value == "healthy"]
        pool = n.pool.value
        facts.pool_gpus[pool] = facts.pool_gpus.get(pool, 0) + len(healthy)
        free = 0 if n.cordoned else sum(1 for g in healthy if g.allocated_to is None)
        facts.pool_free[pool] = facts.pool_free.get(pool, 0) + free
    return facts


class WhatIfJournal(SeriesJournal):
    """The report series plus each tick's `TickFacts`."""

    def __init__(self, label: str) -> None:
        super().__init__(label=label)
        self.facts: list[TickFacts] = []

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        super().append(record, checkpoint)
        if record.snapshot is not None:
            self.facts.append(tick_facts(record.snapshot))


# -- the runs -----------------------------------------------------------------------------


@dataclass
class WhatIfRun:
    question: LoadQuestion
    scenario: Scenario
    outcome: RunOutcome
    facts: list[TickFacts]
    needs: dict[str, ModelNeed]


def run_whatif(
    q: LoadQuestion, *, planner: str | None = None, policy: Path | None = None
) -> WhatIfRun:
    """The window at the what-if load on the configured cluster, and the sizing."""
    scn = whatif_scenario(q)
    journal = WhatIfJournal(q.label)
    variant = ScenarioVariant(label=q.label, planner=planner, policy=policy)
    outcome = run_scenario(scn, variant, journal=journal)
    return WhatIfRun(q, scn, outcome, journal.facts, size_to_hold(scn, q.window_start))


@dataclass(frozen=True)
class OracleCheck:
    """The oracle planner at the what-if load on an unbounded cluster of each model's
    fastest GPU type: its peak GPUs (all models at once) and each model's attainment."""

    peak_gpus: int
    peak_gpus_by_model: dict[str, int]
    attainment: dict[str, float]
    gpu_hours: float
    cost_usd: float


def oracle_check(run: WhatIfRun) -> OracleCheck:
    """Run the oracle on the same window and load with room for whatever it asks for."""
    scn = run.scenario
    needs = run.needs
    groups: dict[str, NodeGroupSpec] = {}
    for m in scn.models:
        g = fastest_type(m, scn.cluster.node_groups)
        groups.setdefault(g.name, g)
    peak_by_type: dict[str, int] = {}
    for n in needs.values():
        peak_by_type[n.gpu_type] = peak_by_type.get(n.gpu_type, 0) + n.peak_gpus
    cluster_groups = tuple(
        g.model_copy(
            update={
                "count": max(1, math.ceil(2 * peak_by_type.get(g.gpu_type, 1) / g.gpus_per_node))
            }
        )
        for g in groups.values()
    )
    models = tuple(
        m.model_copy(
            update={
                "max_replicas": max(m.max_replicas, 2 * needs[m.key].peak_replicas),
                "replicas": max(m.min_replicas, needs[m.key].replicas[0], m.replicas),
                "pools": (),
            }
        )
        for m in scn.models
    )
    oracle = scn.model_copy(
        update={
            "name": f"{scn.name} (oracle check)",
            "cluster": scn.cluster.model_copy(update={"node_groups": cluster_groups}),
            "models": models,
            "planner": OracleConfig(),
        }
    )
    journal = WhatIfJournal("oracle")
    outcome = run_scenario(
        oracle, ScenarioVariant(label="oracle", policy=HARD_LIMITS), journal=journal
    )
    since = run.question.window_start
    facts = [f for f in journal.facts if f.at > since]
    by_model = {m.key: max((f.gpus.get(m.key, 0) for f in facts), default=0) for m in scn.models}
    within, done = window_counts(journal.facts, since)
    gpu_hours, cost = window_spend(outcome, since)
    return OracleCheck(
        peak_gpus=max((sum(f.gpus.values()) for f in facts), default=0),
        peak_gpus_by_model=by_model,
        attainment={k: within[k] / done[k] if done[k] else 1.0 for k in done},
        gpu_hours=gpu_hours,
        cost_usd=cost,
    )


def window_counts(facts: list[TickFacts], since: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Per model: requests served within the SLO, and done, between `since` and the end."""
    before = next((f for f in reversed(facts) if f.at <= since), None)
    last = facts[-1] if facts else None
    within: dict[str, int] = {}
    done: dict[str, int] = {}
    if last is None:
        return within, done
    for k in last.done:
        within[k] = last.within[k] - (before.within.get(k, 0) if before else 0)
        done[k] = last.done[k] - (before.done.get(k, 0) if before else 0)
    return within, done


def window_spend(outcome: RunOutcome, since: datetime) -> tuple[float, float]:
    """GPU-hours and cost between `since` and the run's end."""
    s = outcome.series
    if not s.at:
        return 0.0, 0.0
    i = max((k for k, at in enumerate(s.at) if at <= since), default=None)
    gpu0, cost0 = (s.gpu_hours[i], s.cost_usd[i]) if i is not None else (0.0, 0.0)
    return s.gpu_hours[-1] - gpu0, s.cost_usd[-1] - cost0


def replicas_of(snap: ClusterSnapshot) -> dict[str, int]:
    """Each deployment's ready-or-loading replicas in a recorded snapshot (a bundle's last)."""
    return {
        d.key: sum(
            1 for r in d.replica_states if r.phase in (ReplicaPhase.READY, ReplicaPhase.LOADING)
        )
        or d.replicas
        for d in snap.deployments
    }


def _last_day(s: Scenario) -> tuple[float, float]:
    end = s.duration_seconds
    return max(0.0, end - DAY), end


def question(target: str, load: float, window: str | None) -> tuple[LoadQuestion, str | None]:
    """The what-if question for a scenario (default window: its last day) or a bundle
    (default: the day after its last tick, from the replicas it last had); and the
    bundle's policy text, if any."""
    path = Path(target)
    if path.is_file() and is_bundle(path):
        bundle = read_bundle(path)
        scn = bundle_scenario(bundle, str(path))
        last = bundle.ticks[-1] if bundle.ticks else None
        if last is None or last.snapshot is None:
            raise InputError(
                f"{path}: the bundle has no tick with a snapshot, so its cluster's state is "
                "unknown. Fix: export a window with ticks (`gpusteward export`)."
            )
        after = (last.at - scn.start).total_seconds()
        span = parse_window(window, (after, after + DAY))
        replicas = replicas_of(last.snapshot)
        return LoadQuestion(scn, load, span, str(path), replicas), bundle.policy
    scn = load_scenario(target)
    return LoadQuestion(scn, load, parse_window(window, _last_day(scn)), scn.name), None
