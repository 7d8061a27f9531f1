"""The what-if port over the simulator: proposed actions run on a COPY of the simulated
cluster (`Simulator.checkpoint()` / `restore()`) for the horizon, next to a copy without
them; the live simulator is never touched. Composition-root only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from gpusteward.core.actions import Action
from gpusteward.sim.engine import Simulator
from gpusteward.sim.spec import SimSpec
from tools.context import WhatIfProjection


@dataclass(frozen=True)
class CopyRun:
    """What `horizon` seconds did on a restored copy: GPU-hours, cost, the share of
    requests served within their SLO (served within / (served + dropped); 1 when none
    arrived), requests dropped, and each action's result line."""

    gpu_hours: float
    cost_usd: float
    attainment: float
    dropped: int
    results: tuple[str, ...]


def run_on_copy(
    spec: SimSpec, state: bytes, actions: Sequence[Action], horizon_seconds: float
) -> CopyRun:
    """Restore `state`, execute `actions` now, run `horizon_seconds`, and count."""
    copy = Simulator.restore(spec, state)
    keys = [m.key for m in copy.spec.models]
    before = {k: _counts(copy, k) for k in keys}
    results = tuple(
        f"{a.describe()}: {r.status.value} {r.message}"[:200]
        for a in actions
        for r in (copy.execute(a),)
    )
    copy.advance_to(copy.now + timedelta(seconds=horizon_seconds))
    gpu_h = cost = 0.0
    within = done = dropped = 0
    for k in keys:
        now = _counts(copy, k)
        gpu_h += now[0] - before[k][0]
        cost += now[1] - before[k][1]
        within += now[2] - before[k][2]
        done += now[3] - before[k][3]
        dropped += now[4] - before[k][4]
    return CopyRun(gpu_h, cost, within / done if done else 1.0, dropped, results)


class SimulatorWhatIf:
    """`tools.context.WhatIf` for a simulated run."""

    def __init__(self, simulator: Simulator, *, max_horizon_seconds: float = 4 * 3600.0):
        self.simulator = simulator
        self.max_horizon_seconds = max_horizon_seconds

    def project(self, actions: Sequence[Action], horizon_seconds: float) -> WhatIfProjection:
        horizon = min(horizon_seconds, self.max_horizon_seconds)
        state = self.simulator.checkpoint()
        base = run_on_copy(self.simulator.spec, state, (), horizon)
        with_actions = run_on_copy(self.simulator.spec, state, actions, horizon)
        return WhatIfProjection(
            horizon_seconds=horizon,
            baseline_gpu_hours=round(base.gpu_hours, 3),
            projected_gpu_hours=round(with_actions.gpu_hours, 3),
            baseline_cost_usd=round(base.cost_usd, 2),
            projected_cost_usd=round(with_actions.cost_usd, 2),
            baseline_slo_attainment=round(base.attainment, 4),
            projected_slo_attainment=round(with_actions.attainment, 4),
            baseline_dropped=base.dropped,
            projected_dropped=with_actions.dropped,
            action_results=with_actions.results,
        )


def _counts(sim: Simulator, key: str) -> tuple[float, float, int, int, int]:
    t = sim.tally(key)
    return t.gpu_hours, t.cost_usd, t.served_within_slo, t.served + t.dropped, t.dropped
