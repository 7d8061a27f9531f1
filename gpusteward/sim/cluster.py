"""The simulator behind the `ClusterSource` and `Executor` ports, kept in step with a clock.

Before each observation or action it advances the simulator to the clock's `now()`, so
the daemon sees the cluster as it would be at that instant (whole steps only).
"""

from __future__ import annotations

from gpusteward.core.actions import Action
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.ports import Clock
from gpusteward.core.verdicts import ActionResult
from gpusteward.sim.engine import Simulator


class SimulatedCluster:
    """A `ClusterSource` and `Executor` over a `Simulator`, driven by an injected clock."""

    def __init__(self, simulator: Simulator, clock: Clock) -> None:
        self.simulator = simulator
        self.clock = clock

    def snapshot(self) -> ClusterSnapshot:
        self.simulator.advance_to(self.clock.now())
        return self.simulator.snapshot()

    def execute(self, action: Action, *, dry_run: bool = False) -> ActionResult:
        self.simulator.advance_to(self.clock.now())
        return self.simulator.execute(action, dry_run=dry_run)
