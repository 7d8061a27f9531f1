"""What-if on a bundle: the recorded inputs under another policy, planner or forecaster.

Open loop: every tick sees the snapshot that was recorded, so the answer is "what would
have been proposed and judged at each moment", not how the cluster would then have
evolved (for that, run a scenario both ways: `runbooks.series.RunOutcome`). Nothing is
executed anywhere. With only the policy swapped, the recorded proposals are re-judged
exactly; a swapped planner re-plans; a swapped forecaster re-forecasts from the load
history rebuilt from the record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gpusteward.core import stages
from gpusteward.core.actions import Proposal
from gpusteward.core.model import Frozen
from gpusteward.core.ports import Forecaster, GuardInputs, PolicyEngine
from gpusteward.core.verdicts import EXECUTED_STATUSES, Verdict
from runbooks.bundle import IncidentBundle
from runbooks.replay import ReplayPlanner, replay_inputs

NOT_PROPOSED = "not proposed"


class ActionChange(Frozen):
    """One action whose fate differs between the record and the what-if."""

    seq: int
    at: str
    action_id: str
    action: str
    recorded: str = NOT_PROPOSED
    whatif: str = NOT_PROPOSED
    rules: tuple[str, ...] = ()
    reason: str = ""
    executed: bool = False


class WhatIfReport(Frozen):
    label: str
    ticks: int
    recorded_policy: str
    whatif_policy: str
    recorded_counts: dict[str, int]
    whatif_counts: dict[str, int]
    changes: tuple[ActionChange, ...]
    notice: str = (
        "what-if: nothing was executed against any cluster; recorded snapshots replayed "
        "open-loop (the cluster does not react to the what-if's decisions)"
    )

    def became(self, decision: str) -> list[ActionChange]:
        """Recorded actions that the what-if would have judged `decision` instead."""
        return [c for c in self.changes if c.whatif == decision and c.recorded not in (decision,)]


def what_if(
    bundle: IncidentBundle,
    *,
    policy: PolicyEngine,
    planner: ReplayPlanner | None = None,
    forecaster: Forecaster | None = None,
    horizon_seconds: float = 900.0,
    label: str = "what-if",
) -> WhatIfReport:
    """Compare each tick's recorded proposals and verdicts with the what-if's."""
    if planner is not None:
        planner.warm_up(bundle)
    changes: list[ActionChange] = []
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    recorded_policy = next(iter(sorted(bundle.policy_versions)), "none")
    for record, inputs in replay_inputs(bundle):
        if inputs is None or record.snapshot is None:
            continue
        if forecaster is not None:
            made = stages.forecast(forecaster, inputs.load, horizon_seconds)
            forecasts = {f.key: f for f in made.forecasts}
            inputs = GuardInputs(forecasts=forecasts, load=inputs.load, recent=inputs.recent)
        proposals: Sequence[Proposal] = record.proposals
        if planner is not None:
            planner.before_tick(record)
            proposals = planner.plan(record.snapshot, inputs)
        verdicts = stages.judge(policy, proposals, record.snapshot, inputs).verdicts
        executed = {r.action_id for r in record.results if r.status in EXECUTED_STATUSES}
        old = {v.action_id: v for v in record.verdicts}
        new = {v.action_id: v for v in verdicts}
        before.update(v.decision for v in record.verdicts)
        after.update(v.decision for v in verdicts)
        described = {p.action.id: p.action.describe() for p in (*record.proposals, *proposals)}
        for action_id in dict.fromkeys([*old, *new]):
            was, now = old.get(action_id), new.get(action_id)
            if _same(was, now):
                continue
            changes.append(
                ActionChange(
                    seq=record.seq,
                    at=record.at.isoformat(),
                    action_id=action_id,
                    action=described.get(action_id, action_id),
                    recorded=was.decision if was else NOT_PROPOSED,
                    whatif=now.decision if now else NOT_PROPOSED,
                    rules=tuple(h.rule for h in now.rules) if now else (),
                    reason=now.reason if now else "",
                    executed=action_id in executed,
                )
            )
    return WhatIfReport(
        label=label,
        ticks=len(bundle.ticks),
        recorded_policy=recorded_policy,
        whatif_policy=policy.version,
        recorded_counts=dict(before),
        whatif_counts=dict(after),
        changes=tuple(changes),
    )


def _same(a: Verdict | None, b: Verdict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.decision == b.decision
