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
    llm_outcomes: Counter[str] = field(default_factory=Counter)  # proposed / no_opinion / ...
    llm_last: str | None = None  # the last LLM tick's outcome and reason, for /status

    def llm_line(self) -> str | None:
        """One line on the LLM planner agent for the chat's /status (None: no LLM)."""
        if not self.llm_outcomes:
            return None
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.llm_outcomes.items()))
        return f"LLM planner: {counts} this run; last tick: {self.llm_last}"

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
        if record.llm is not None:
            self.llm_outcomes[record.llm.outcome] += 1
            reason = record.llm.fallback_reason
            self.llm_last = record.llm.outcome + (f" ({reason[:200]})" if reason else "")
