"""What a run adds up, tick by tick: the counters behind its end-of-run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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
    failed_ticks: int = 0  # ticks in which at least one stage failed
    last_error: str | None = None  # the last failed stage: "stage: ErrorType: message"

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
        if record.errors:
            self.failed_ticks += 1
            e = record.errors[0]
            self.last_error = f"{e.stage.value}: {e.error_type}: {e.message}"
        if record.snapshot is not None:
            self.last_snapshot = record.snapshot
        if record.llm is not None:
            self.llm_outcomes[record.llm.outcome] += 1
            reason = record.llm.fallback_reason
            self.llm_last = record.llm.outcome + (f" ({reason[:200]})" if reason else "")

    def every_tick_failed(self, journal: Path) -> str | None:
        """What to say when every tick of the run failed a stage (None when one did not):
        such a run did not do its work, whatever its summary shows."""
        if not self.ticks or self.failed_ticks < self.ticks:
            return None
        which = "the one tick" if self.ticks == 1 else f"every one of the {self.ticks} ticks"
        return (
            f"{which} of this run failed a stage (the last: {self.last_error}). Fix: correct "
            f"what that error names; `gpusteward journal --journal {journal} --tail 1 --json` "
            "shows a tick's errors."
        )
