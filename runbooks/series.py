"""What a report plots, extracted tick by tick: load, forecast band, capacity, replicas, SLO
attainment, GPU-hours and cost per model, and every action with its verdict and outcome.

`RunSeries` is filled from recorded ticks (a bundle) or live (`SeriesJournal`, a `Journal`
that keeps only these series, so a 14-day simulated replay needs neither a file nor the
memory for 20,000 full records).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gpusteward.core.cluster import ModelAccounting, ReplicaPhase
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import EXECUTED_STATUSES, NeedsApproval


@dataclass
class ModelSeries:
    key: str
    at: list[datetime] = field(default_factory=list)
    load_rps: list[float] = field(default_factory=list)
    capacity_rps: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    slo: list[float | None] = field(default_factory=list)
    forecast_at: list[datetime] = field(default_factory=list)
    p10: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p90: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ActionRow:
    seq: int
    at: datetime
    action_id: str
    kind: str
    target: str
    what: str
    reason: str
    planner: str
    decision: str
    rules: str
    result: str
    approver: str


@dataclass
class RunSeries:
    models: dict[str, ModelSeries] = field(default_factory=dict)
    at: list[datetime] = field(default_factory=list)
    gpu_hours: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    slo_cumulative: list[float] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    accounting: dict[str, ModelAccounting] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    ticks: int = 0
    _pending: dict[str, str] = field(default_factory=dict)  # action id -> approval state

    def add(self, record: TickRecord, approvers: dict[str, str] | None = None) -> None:
        self.ticks += 1
        snapshot = record.snapshot
        if snapshot is not None:
            self._observe(record)
        results = {r.action_id: r.status.value for r in record.results}
        self.results.update(results.values())
        for a in record.approvals:
            self._pending[a.proposal.action.id] = a.decided_by or f"({a.state.value})"
        for p, v in zip(record.proposals, record.verdicts, strict=False):
            self.decisions[v.decision] += 1
            approver = (approvers or {}).get(p.action.id, "")
            if not approver and isinstance(v, NeedsApproval):
                approver = self._pending.get(p.action.id, f"({v.approver_group})")
            self.actions.append(
                ActionRow(
                    seq=record.seq,
                    at=record.at,
                    action_id=p.action.id,
                    kind=p.action.kind,
                    target=p.action.target,
                    what=p.action.describe(),
                    reason=p.reason,
                    planner=p.planner,
                    decision=v.decision,
                    rules=", ".join(h.rule for h in v.rules),
                    result=results.get(p.action.id, "not run"),
                    approver=approver,
                )
            )

    def _observe(self, record: TickRecord) -> None:
        snapshot = record.snapshot
        assert snapshot is not None
        forecasts = {f.key: f for f in record.forecasts}
        for d in snapshot.deployments:
            s = self.models.get(d.key)
            if s is None:
                s = self.models[d.key] = ModelSeries(d.key)
            m = snapshot.metrics.get(d.key)
            s.at.append(snapshot.at)
            s.load_rps.append(m.arrival_rate_rps if m else 0.0)
            s.capacity_rps.append(m.capacity_rps if m else 0.0)
            s.replicas.append(d.replicas)
            s.ready.append(d.count(ReplicaPhase.READY))
            s.slo.append(m.slo_attainment if m else None)
            f = forecasts.get(d.key)
            point = f.at_or_after(d.cold_start_seconds) if f is not None else None
            if point is not None:
                s.forecast_at.append(point.at)
                s.p10.append(point.p10)
                s.p50.append(point.p50)
                s.p90.append(point.p90)
        if snapshot.accounting:
            self.accounting = dict(snapshot.accounting)
            acc = snapshot.accounting.values()
            done = sum(a.served + a.dropped for a in acc)
            self.at.append(snapshot.at)
            self.gpu_hours.append(sum(a.gpu_hours for a in acc))
            self.cost_usd.append(sum(a.cost_usd for a in acc))
            within = sum(a.served_within_slo for a in acc)
            self.slo_cumulative.append(within / done if done else 1.0)

    @property
    def applied(self) -> int:
        return sum(self.results[s.value] for s in EXECUTED_STATUSES)


def series_from_records(
    records: Iterable[TickRecord], approvers: dict[str, str] | None = None
) -> RunSeries:
    out = RunSeries()
    for record in records:
        out.add(record, approvers)
    return out


def total_accounting(models: Iterable[ModelAccounting]) -> ModelAccounting:
    """The models' accounting summed (their worst p95 queueing delay): a run's totals."""
    acc = list(models)
    return ModelAccounting(
        arrived=sum(a.arrived for a in acc),
        served=sum(a.served for a in acc),
        dropped=sum(a.dropped for a in acc),
        served_within_slo=sum(a.served_within_slo for a in acc),
        gpu_hours=sum(a.gpu_hours for a in acc),
        cost_usd=sum(a.cost_usd for a in acc),
        queue_delay_p95_seconds=max((a.queue_delay_p95_seconds for a in acc), default=0.0),
    )


@dataclass
class RunOutcome:
    """One run's totals beside its series: what a what-if compares side by side."""

    label: str
    scenario: str
    policy_version: str
    planner: str
    series: RunSeries

    @property
    def totals(self) -> ModelAccounting:
        return total_accounting(self.series.accounting.values())


class SeriesJournal:
    """A `Journal` that keeps the report series, the executed ids and the last few ticks."""

    def __init__(self, models: Sequence[object] = (), *, label: str = "run") -> None:
        self.label = label
        self.series = RunSeries()
        self._seq = 0
        self._tail: deque[TickRecord] = deque(maxlen=8)
        self._executed: set[str] = set()

    def append(self, record: TickRecord, checkpoint: bytes | None = None) -> None:
        if record.seq != self._seq:
            raise ValueError(f"tick seq={record.seq}, expected {self._seq}")
        self._seq += 1
        self._tail.append(record)
        self.series.add(record)
        self._executed.update(r.action_id for r in record.results if r.status in EXECUTED_STATUSES)

    def next_seq(self) -> int:
        return self._seq

    def tail(self, n: int) -> list[TickRecord]:
        return list(self._tail)[-n:] if n else []

    def executed_action_ids(self) -> set[str]:
        return set(self._executed)

    def latest_checkpoint(self) -> bytes | None:
        return None

    def outcome(self, scenario: str, policy_version: str, planner: str) -> RunOutcome:
        return RunOutcome(self.label, scenario, policy_version, planner, self.series)
