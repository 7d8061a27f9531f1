"""The what-if port over the simulator: proposed actions run on a COPY of the simulated
cluster (`Simulator.checkpoint()` / `restore()`) for the horizon, next to a copy without
them; the live simulator is never touched. Composition-root only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from gpusteward.core.actions import Action
from gpusteward.sim.engine import Simulator
from tools.context import WhatIfProjection


class SimulatorWhatIf:
    """`tools.context.WhatIf` for a simulated run."""

    def __init__(self, simulator: Simulator, *, max_horizon_seconds: float = 4 * 3600.0):
        self.simulator = simulator
        self.max_horizon_seconds = max_horizon_seconds

    def project(self, actions: Sequence[Action], horizon_seconds: float) -> WhatIfProjection:
        horizon = min(horizon_seconds, self.max_horizon_seconds)
        state = self.simulator.checkpoint()
        base = self._run(state, (), horizon)
        with_actions = self._run(state, actions, horizon)
        return WhatIfProjection(
            horizon_seconds=horizon,
            baseline_gpu_hours=round(base[0], 3),
            projected_gpu_hours=round(with_actions[0], 3),
            baseline_cost_usd=round(base[1], 2),
            projected_cost_usd=round(with_actions[1], 2),
            baseline_slo_attainment=round(base[2], 4),
            projected_slo_attainment=round(with_actions[2], 4),
            baseline_dropped=base[3],
            projected_dropped=with_actions[3],
            action_results=with_actions[4],
        )

    def _run(
        self, state: bytes, actions: Sequence[Action], horizon: float
    ) -> tuple[float, float, float, int, tuple[str, ...]]:
        copy = Simulator.restore(self.simulator.spec, state)
        keys = [m.key for m in copy.spec.models]
        before = {k: _counts(copy, k) for k in keys}
        results = tuple(
            f"{a.describe()}: {r.status.value} {r.message}"[:200]
            for a in actions
            for r in (copy.execute(a),)
        )
        copy.advance_to(copy.now + timedelta(seconds=horizon))
        gpu_h = cost = 0.0
        within = done = dropped = 0
        for k in keys:
            now = _counts(copy, k)
            gpu_h += now[0] - before[k][0]
            cost += now[1] - before[k][1]
            within += now[2] - before[k][2]
            done += now[3] - before[k][3]
            dropped += now[4] - before[k][4]
        return gpu_h, cost, within / done if done else 1.0, dropped, results


def _counts(sim: Simulator, key: str) -> tuple[float, float, int, int, int]:
    t = sim.tally(key)
    return t.gpu_hours, t.cost_usd, t.served_within_slo, t.served + t.dropped, t.dropped
