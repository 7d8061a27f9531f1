"""What a run adds up, tick by tick: the counters behind its end-of-run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.tick import TickRecord


@dataclass
class RunStats:
    ticks: int = 0
    proposals: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    stage_errors: Counter[str] = field(default_factory=Counter)
    # (rule, would-be effect) of every warn / audit rule that fired: not enforced
    shadow: Counter[tuple[str, str]] = field(default_factory=Counter)
    last_snapshot: ClusterSnapshot | None = None

    def add(self, record: TickRecord) -> None:
        """Count one recorded tick."""
        self.ticks += 1
        self.proposals += len(record.proposals)
        self.decisions.update(v.decision for v in record.verdicts)
        self.shadow.update((h.rule, h.effect or "?") for v in record.verdicts for h in v.shadow)
        self.results.update(r.status.value for r in record.results)
        self.stage_errors.update(e.stage.value for e in record.errors)
        if record.snapshot is not None:
            self.last_snapshot = record.snapshot
