"""Regression replay: re-run a bundle's recorded ticks and report every difference.

Each tick is re-planned from its recorded snapshot and forecasts, with the load history
and recent actions rebuilt exactly as the daemon kept them, and re-judged by the policy.
Nothing is executed: the recorded results feed the next tick's memory instead. A tick
whose proposals or verdicts differ from the record is reported, and so is every LLM or
tool request the record does not contain (the planner port reports those violations).

The planner and the policy are injected (`ReplayPlanner`, `PolicyEngine`): this module
knows no planner, no simulator and no journal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from gpusteward.core import stages
from gpusteward.core.actions import Action, Proposal
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast, LoadHistory
from gpusteward.core.model import Frozen
from gpusteward.core.ports import GuardInputs, Planner, PolicyEngine
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ExecutedAction, Verdict
from runbooks.bundle import IncidentBundle, executed


def _no_violations() -> list[str]:
    return []


@dataclass
class ReplayPlanner:
    """A planner as the replay drives it, with its hooks (filled by the composition root).

    `before_tick` prepares it for one recorded tick (e.g. loads that tick's recorded LLM
    exchange); `warm` feeds it a warm-up tick without asking for a plan's effects (planner
    memory); `violations` lists the requests the record did not contain, for this tick.
    """

    planner: Planner
    before_tick: Callable[[TickRecord], None] = lambda record: None
    warm: Callable[[ClusterSnapshot, Mapping[str, Forecast]], object] | None = None
    violations: Callable[[], list[str]] = field(default=_no_violations)

    def plan(self, snapshot: ClusterSnapshot, inputs: GuardInputs) -> list[Proposal]:
        return stages.plan(self.planner, snapshot, inputs)

    def warm_up(self, bundle: IncidentBundle) -> None:
        for record in bundle.preamble.warmup:
            if record.snapshot is None:
                continue
            forecasts = {f.key: f for f in record.forecasts}
            if self.warm is not None:
                self.warm(record.snapshot, forecasts)
            else:
                self.planner.plan(record.snapshot, forecasts)


def replay_inputs(bundle: IncidentBundle) -> Iterator[tuple[TickRecord, GuardInputs | None]]:
    """Each recorded tick with the guard inputs the daemon had (None: no snapshot)."""
    history = LoadHistory(bundle.interval_seconds, bundle.history_points)
    stages.restore_load(history, bundle.preamble.load)
    recent: deque[ExecutedAction] = deque(bundle.preamble.recent)
    known: dict[str, Action] = {}
    for record in bundle.preamble.warmup:
        for p in record.proposals:
            known[p.action.id] = p.action
    for record in bundle.ticks:
        if record.snapshot is None:
            yield record, None
            continue
        stages.observe_load(history, record.snapshot)
        stages.prune_recent(recent, record.snapshot.at, bundle.recent_actions_seconds)
        yield (
            record,
            GuardInputs(
                forecasts={f.key: f for f in record.forecasts},
                load=stages.load_series(history),
                recent=tuple(recent),
            ),
        )
        recent.extend(executed(record, known))


DiffKind = Literal["proposals", "verdicts", "llm", "unrecorded-request", "error"]


class TickDiff(Frozen):
    seq: int
    at: str
    kind: DiffKind
    detail: str


class RegressionReport(Frozen):
    ticks: int
    compared: int
    llm_ticks: int = 0
    llm_rounds: int = 0
    policy_version: str
    diffs: tuple[TickDiff, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.diffs

    @property
    def unrecorded(self) -> tuple[TickDiff, ...]:
        return tuple(d for d in self.diffs if d.kind == "unrecorded-request")


def regression(
    bundle: IncidentBundle, planner: ReplayPlanner, policy: PolicyEngine
) -> RegressionReport:
    """Re-plan and re-judge every recorded tick; list each difference from the record."""
    planner.warm_up(bundle)
    diffs: list[TickDiff] = []
    compared = llm_ticks = llm_rounds = 0
    for record, inputs in replay_inputs(bundle):
        if inputs is None or record.snapshot is None:
            continue
        compared += 1
        at = record.at.isoformat()
        planner.before_tick(record)
        try:
            proposals = planner.plan(record.snapshot, inputs)
        except Exception as e:
            diffs.append(TickDiff(seq=record.seq, at=at, kind="error", detail=f"{e!r}"))
            continue
        judged = stages.judge(policy, proposals, record.snapshot, inputs)
        if judged.error is not None:
            diffs.append(TickDiff(seq=record.seq, at=at, kind="error", detail=f"{judged.error!r}"))
            continue
        verdicts = judged.verdicts
        trace = stages.take_llm_trace(planner.planner)
        if record.llm is not None:
            llm_ticks += 1
            llm_rounds += len(record.llm.rounds)
        for v in planner.violations():
            diffs.append(TickDiff(seq=record.seq, at=at, kind="unrecorded-request", detail=v))
        llm = _llm_difference(record, trace)
        if llm is not None:
            diffs.append(TickDiff(seq=record.seq, at=at, kind="llm", detail=llm))
        problem = proposal_difference(record.proposals, proposals)
        if problem is not None:
            diffs.append(TickDiff(seq=record.seq, at=at, kind="proposals", detail=problem))
        problem = verdict_difference(record.verdicts, verdicts)
        if problem is not None:
            diffs.append(TickDiff(seq=record.seq, at=at, kind="verdicts", detail=problem))
    return RegressionReport(
        ticks=len(bundle.ticks),
        compared=compared,
        llm_ticks=llm_ticks,
        llm_rounds=llm_rounds,
        policy_version=policy.version,
        diffs=tuple(diffs),
    )


def _llm_difference(record: TickRecord, trace: object) -> str | None:
    recorded = record.llm
    if recorded is None:
        return None if trace is None else "the replay talked to an LLM; the record did not"
    if trace is None:
        return "the record has an LLM exchange; the replay made none"
    rounds = len(getattr(trace, "rounds", ()))
    outcome = getattr(trace, "outcome", None)
    if rounds != len(recorded.rounds) or outcome != recorded.outcome:
        return (
            f"{rounds} round(s), outcome {outcome}; recorded {len(recorded.rounds)} round(s), "
            f"outcome {recorded.outcome}"
        )
    return None


def proposal_difference(
    recorded: tuple[Proposal, ...] | list[Proposal], replayed: list[Proposal]
) -> str | None:
    if len(recorded) != len(replayed):
        return (
            f"{len(replayed)} proposal(s), recorded {len(recorded)}: replayed ["
            + "; ".join(p.action.describe() for p in replayed)
            + "], recorded ["
            + "; ".join(p.action.describe() for p in recorded)
            + "]"
        )
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
        if a.action != b.action:
            return f"proposal {i}: {b.action.describe()}, recorded {a.action.describe()}"
        if a != b:
            fields = [
                f for f in ("reason", "evidence", "planner") if getattr(a, f) != getattr(b, f)
            ]
            return f"proposal {i} ({a.action.describe()}): {', '.join(fields)} differ"
    return None


def verdict_difference(
    recorded: tuple[Verdict, ...] | list[Verdict], replayed: list[Verdict]
) -> str | None:
    if len(recorded) != len(replayed):
        return f"{len(replayed)} verdict(s), recorded {len(recorded)}"
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
        if a.decision != b.decision:
            return f"verdict {i} ({a.action_id}): {b.decision}, recorded {a.decision}"
        if a != b:
            return f"verdict {i} ({a.action_id}): same decision, different rules or version"
    return None
