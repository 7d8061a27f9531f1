"""Where a what-if load breaks, read from its run (pure: no I/O, no clock).

- first SLO miss: per model, the first tick whose trailing 10 minutes served fewer than
  the SLO's attainment target of the requests done (served or dropped) within the SLO;
- the GPUs and cost to hold the SLO: the sizing's peak GPUs (all models at once, and
  per model on its fastest GPU type), GPU-hours and cost over the window;
- the first pool to run out: the first tick a pool had no free healthy GPU while a model
  that may run there had replicas it could not place (else the first tick it was full);
- the limits that bind: policy rules that denied (or held for approval) the run's
  actions, max_replicas below what a model needs, a GPU type the cluster has too few of.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from gpusteward.app.whatif.load import (
    OracleCheck,
    TickFacts,
    WhatIfRun,
    window_counts,
    window_spend,
)
from gpusteward.app.whatif.sizing import ModelNeed
from gpusteward.core.cluster import TokenAccounting

MISS_WINDOW_SECONDS = 600.0


@dataclass(frozen=True)
class Miss:
    key: str
    at: datetime
    attainment: float  # over the trailing window that missed
    target: float


@dataclass(frozen=True)
class PoolOut:
    pool: str
    at: datetime
    waiting: tuple[str, ...]  # models with replicas it could not place then


@dataclass(frozen=True)
class Binding:
    kind: str  # policy-deny, needs-approval, max-replicas, cluster-gpus
    limit: str
    count: int
    first_at: datetime | None
    example: str


@dataclass(frozen=True)
class Need:
    key: str
    gpu_type: str
    peak_replicas: int
    peak_gpus: int
    gpu_hours: float
    cost_usd: float
    max_replicas: int


@dataclass
class WhatIfAnswer:
    source: str
    load: float
    start: datetime
    end: datetime
    planner: str
    policy: str
    attainment: dict[str, float]
    targets: dict[str, float]
    misses: list[Miss]
    needs: list[Need]
    peak_gpus_needed: int  # all models at once
    gpus_needed_by_type: dict[str, int]
    gpu_hours_needed: float
    cost_needed_usd: float
    cluster_gpus_by_type: dict[str, int]
    run_gpu_hours: float
    run_cost_usd: float
    run_peak_gpus: int
    pool_out: PoolOut | None
    pool_min_free: dict[str, int]
    bindings: list[Binding] = field(default_factory=list)
    oracle: OracleCheck | None = None
    tokens: dict[str, TokenAccounting] = field(default_factory=dict)  # the run's, warm-up in

    @property
    def first_miss(self) -> Miss | None:
        return min(self.misses, key=lambda m: m.at) if self.misses else None

    @property
    def holds(self) -> bool:
        return not self.misses


def first_misses(
    facts: list[TickFacts], targets: dict[str, float], tick: float, since: datetime
) -> list[Miss]:
    """Each model's first trailing-window SLO miss after `since`, in time order."""
    n = max(1, round(MISS_WINDOW_SECONDS / tick))
    out = []
    for key, target in targets.items():
        for i, f in enumerate(facts):
            if f.at <= since:
                continue
            j = max(0, i - n)
            done = f.done.get(key, 0) - facts[j].done.get(key, 0)
            if done <= 0:
                continue
            share = (f.within.get(key, 0) - facts[j].within.get(key, 0)) / done
            if share < target:
                out.append(Miss(key, f.at, share, target))
                break
    return sorted(out, key=lambda m: m.at)


def pool_exhaustion(
    facts: list[TickFacts], may_use: dict[str, set[str]]
) -> tuple[PoolOut | None, dict[str, int]]:
    """The first pool to run out (see the module docstring) and each pool's least free."""
    least: dict[str, int] = {}
    for f in facts:
        for pool, free in f.pool_free.items():
            least[pool] = min(least.get(pool, free), free)
    full: PoolOut | None = None
    for f in facts:
        for pool, free in sorted(f.pool_free.items()):
            if free > 0:
                continue
            waiting = tuple(
                k
                for k, want in f.desired.items()
                if want > f.placed.get(k, 0) and pool in may_use.get(k, set())
            )
            if waiting:
                return PoolOut(pool, f.at, waiting), least
            if full is None:
                full = PoolOut(pool, f.at, ())
    return full, least


def policy_bindings(run: WhatIfRun) -> list[Binding]:
    """Rules that denied, or held for a person, the window's proposals: count, first, example."""
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], tuple[datetime, str]] = {}
    for row in run.outcome.series.actions:
        if row.at < run.question.window_start or row.decision not in ("deny", "needs_approval"):
            continue
        kind = "policy-deny" if row.decision == "deny" else "needs-approval"
        for rule in (r.strip() for r in row.rules.split(",")):
            if not rule:
                continue
            counts[(kind, rule)] += 1
            first.setdefault((kind, rule), (row.at, row.what))
    return [
        Binding(kind, rule, n, first[(kind, rule)][0], first[(kind, rule)][1])
        for (kind, rule), n in counts.most_common()
    ]


def capacity_bindings(
    needs: dict[str, ModelNeed], peak_by_type: dict[str, int], cluster: dict[str, int]
) -> list[Binding]:
    out = []
    for n in needs.values():
        at = n.first_over_max()
        if at is not None:
            over = sum(1 for r in n.replicas if r > n.max_replicas)
            out.append(
                Binding(
                    "max-replicas",
                    f"{n.key} max_replicas={n.max_replicas}",
                    over,
                    at,
                    f"needs {n.peak_replicas} replicas at the peak",
                )
            )
    for gpu, want in sorted(peak_by_type.items()):
        have = cluster.get(gpu, 0)
        if want > have:
            out.append(
                Binding(
                    "cluster-gpus",
                    f"{gpu} GPUs in the cluster: {have}",
                    want - have,
                    None,
                    f"the sizing needs {want} {gpu} at once",
                )
            )
    return out


def answer(run: WhatIfRun, oracle: OracleCheck | None = None) -> WhatIfAnswer:
    scn, q = run.scenario, run.question
    tick = scn.tick_seconds
    targets = {m.key: m.slo.attainment_target for m in scn.models}
    groups = scn.cluster.node_groups
    may_use = {
        m.key: {
            g.pool.value
            for g in groups
            if g.gpu_type in m.profile.throughput_rps and (not m.pools or g.pool in m.pools)
        }
        for m in scn.models
    }
    peak_total = 0
    peak_by_type: dict[str, int] = {}
    steps = len(next(iter(run.needs.values())).replicas) if run.needs else 0
    for i in range(steps):
        by_type: Counter[str] = Counter()
        for n in run.needs.values():
            by_type[n.gpu_type] += n.replicas[i] * n.gpus_per_replica
        peak_total = max(peak_total, sum(by_type.values()))
        for gpu, v in by_type.items():
            peak_by_type[gpu] = max(peak_by_type.get(gpu, 0), v)
    cluster: Counter[str] = Counter()
    for g in groups:
        cluster[g.gpu_type] += g.count * g.gpus_per_node
    needs = [
        Need(
            n.key,
            n.gpu_type,
            n.peak_replicas,
            n.peak_gpus,
            n.gpu_hours(tick),
            n.gpu_hours(tick) * n.price_per_gpu_hour,
            n.max_replicas,
        )
        for n in run.needs.values()
    ]
    since = q.window_start
    judged = [f for f in run.facts if f.at > since]
    pool_out, least = pool_exhaustion(judged, may_use)
    within, done = window_counts(run.facts, since)
    gpu_hours, cost = window_spend(run.outcome, since)
    return WhatIfAnswer(
        source=q.source,
        load=q.load,
        start=since,
        end=scn.end,
        planner=run.outcome.planner,
        policy=run.outcome.policy_version,
        attainment={k: within[k] / done[k] if done[k] else 1.0 for k in sorted(done)},
        targets=targets,
        misses=first_misses(run.facts, targets, tick, since),
        needs=needs,
        peak_gpus_needed=peak_total,
        gpus_needed_by_type=peak_by_type,
        gpu_hours_needed=sum(n.gpu_hours for n in needs),
        cost_needed_usd=sum(n.cost_usd for n in needs),
        cluster_gpus_by_type=dict(cluster),
        run_gpu_hours=gpu_hours,
        run_cost_usd=cost,
        run_peak_gpus=max((sum(f.gpus.values()) for f in judged), default=0),
        pool_out=pool_out,
        pool_min_free=least,
        bindings=policy_bindings(run) + capacity_bindings(run.needs, peak_by_type, dict(cluster)),
        oracle=oracle,
        tokens={
            k: a.tokens for k, a in run.outcome.series.accounting.items() if a.tokens is not None
        },
    )


def _at(t: datetime | None) -> str:
    return "-" if t is None else f"{t:%Y-%m-%d %H:%M} UTC"


def summary_lines(a: WhatIfAnswer) -> list[str]:
    """The answer in a few sentences, first the verdict."""
    window = f"{_at(a.start)} to {_at(a.end)}"
    lines = []
    miss = a.first_miss
    if miss is None:
        lines.append(
            f"At {a.load:g}x load ({window}) the cluster holds every SLO with planner "
            f"{a.planner} and policy {a.policy}."
        )
    else:
        lines.append(
            f"At {a.load:g}x load ({window}) {miss.key} is the first to miss its SLO, at "
            f"{_at(miss.at)}: {miss.attainment:.1%} of its requests of the 10 minutes before "
            f"within the SLO (target {miss.target:.0%}); planner {a.planner}, policy {a.policy}."
        )
    types = ", ".join(f"{n} {t}" for t, n in sorted(a.gpus_needed_by_type.items()))
    lines.append(
        f"Holding the SLO takes {a.peak_gpus_needed} GPUs at the peak ({types}), "
        f"{a.gpu_hours_needed:,.0f} GPU-hours and {a.cost_needed_usd:,.0f} USD over the window; "
        f"the configured run used {a.run_peak_gpus} GPUs at its peak, {a.run_gpu_hours:,.0f} "
        f"GPU-hours and {a.run_cost_usd:,.0f} USD."
    )
    if a.pool_out is None:
        least = ", ".join(f"{p} {n}" for p, n in sorted(a.pool_min_free.items()))
        lines.append(f"No pool ran out (fewest free GPUs: {least}).")
    elif a.pool_out.waiting:
        lines.append(
            f"The {a.pool_out.pool} pool runs out first, at {_at(a.pool_out.at)}, with "
            f"{', '.join(a.pool_out.waiting)} waiting for GPUs there."
        )
    else:
        lines.append(
            f"The {a.pool_out.pool} pool is the first full, at {_at(a.pool_out.at)} "
            "(no replica was left waiting for it)."
        )
    if a.bindings:
        top = "; ".join(f"{b.kind} {b.limit} ({b.count}x)" for b in a.bindings[:4])
        lines.append(f"Limits that bind: {top}.")
    else:
        lines.append("No policy rule, replica bound or GPU type limits the scaling.")
    if a.oracle is not None:
        o = a.oracle
        held = all(o.attainment.get(k, 1.0) >= t for k, t in a.targets.items())
        lines.append(
            f"Check: the oracle planner on an unbounded cluster peaked at {o.peak_gpus} GPUs "
            f"({'holding' if held else 'NOT holding'} every SLO); the sizing says "
            f"{a.peak_gpus_needed} ({sizing_error(a):+.1%})."
        )
    return lines


def sizing_error(a: WhatIfAnswer) -> float:
    """(sizing's peak GPUs - oracle's) / oracle's; 0 without an oracle run."""
    if a.oracle is None or a.oracle.peak_gpus == 0:
        return 0.0
    return a.peak_gpus_needed / a.oracle.peak_gpus - 1.0


def to_json(a: WhatIfAnswer, seconds: float) -> dict[str, object]:
    """The answer as `whatif --json` prints it (`seconds`: how long it took)."""
    first = a.first_miss
    return {
        "mode": "whatif-load",
        "source": a.source,
        "load": a.load,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "planner": a.planner,
        "policy": a.policy,
        "holds": a.holds,
        "first_miss": None
        if first is None
        else {"model": first.key, "at": first.at.isoformat(), "attainment": first.attainment},
        "misses": [{"model": m.key, "at": m.at.isoformat()} for m in a.misses],
        "attainment": a.attainment,
        "gpus_needed": a.peak_gpus_needed,
        "gpus_needed_by_type": a.gpus_needed_by_type,
        "gpus_needed_by_model": {n.key: n.peak_gpus for n in a.needs},
        "gpu_hours_needed": a.gpu_hours_needed,
        "cost_needed_usd": a.cost_needed_usd,
        "run_peak_gpus": a.run_peak_gpus,
        "run_gpu_hours": a.run_gpu_hours,
        "run_cost_usd": a.run_cost_usd,
        "cluster_gpus_by_type": a.cluster_gpus_by_type,
        "pool_out": None
        if a.pool_out is None
        else {
            "pool": a.pool_out.pool,
            "at": a.pool_out.at.isoformat(),
            "waiting": a.pool_out.waiting,
        },
        "pool_min_free": a.pool_min_free,
        "tokens": {k: t.model_dump() for k, t in a.tokens.items()},
        "bindings": [
            {"kind": b.kind, "limit": b.limit, "count": b.count, "example": b.example}
            for b in a.bindings
        ],
        "oracle": None
        if a.oracle is None
        else {
            "peak_gpus": a.oracle.peak_gpus,
            "peak_gpus_by_model": a.oracle.peak_gpus_by_model,
            "attainment": a.oracle.attainment,
            "sizing_error": sizing_error(a),
        },
        "seconds": round(seconds, 2),
    }
