"""Seeded fault injection: spot node preemptions and single-GPU failures, with repair.

Each kind of fault has its own random generator, so turning one on changes neither the
other nor the arrivals. With both rates at 0 nothing is drawn. A scheduled spot wave
(every spot node at one moment) draws nothing either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpusteward.core.cluster import Pool
from gpusteward.sim.fleet import Fleet
from gpusteward.sim.spec import FaultSpec


@dataclass
class FaultCounts:
    spot_preemptions: int = 0
    gpu_failures: int = 0
    replicas_lost: int = 0


class FaultInjector:
    def __init__(
        self, spec: FaultSpec, spot_rng: np.random.Generator, gpu_rng: np.random.Generator
    ):
        self.spec = spec
        self.spot_rng = spot_rng
        self.gpu_rng = gpu_rng
        self.counts = FaultCounts()
        self.wave_done = False  # the scheduled spot wave, once it has come
        self._next_repair = math.inf  # earliest failed_until still in the future

    def step(self, fleet: Fleet, now: float, dt: float) -> None:
        """Repair what is due at `now`, then draw the faults of the step [now, now + dt)."""
        if now >= self._next_repair:
            self._repair(fleet, now)
        wave = self.spec.spot_wave_after_seconds
        if wave is not None and now >= wave and not self.wave_done:
            self.wave_done = True
            self._spot_wave(fleet, now)
        if self.spec.spot_preemptions_per_node_hour > 0:
            self._preempt_spot(fleet, now, dt)
        if self.spec.gpu_failures_per_gpu_hour > 0:
            self._fail_gpus(fleet, now, dt)

    def _repair(self, fleet: Fleet, now: float) -> None:
        upcoming = math.inf
        for node in fleet.nodes:
            for i, until in enumerate(node.failed_until):
                if until == 0.0:
                    continue
                if until <= now:
                    node.failed_until[i] = 0.0
                    node.version += 1
                    fleet.placement_dirty = True
                else:
                    upcoming = min(upcoming, until)
        self._next_repair = upcoming

    def fail_now(
        self, fleet: Fleet, node_i: int, gpus: set[int], now: float, outage_seconds: float
    ) -> None:
        """A fault at a chosen moment (evals, drills): `gpus` of node `node_i` fail now and
        come back after `outage_seconds`, exactly as a drawn fault would."""
        self._mark_failed(fleet, node_i, gpus, now + outage_seconds)
        fleet.placement_dirty = True

    def _mark_failed(self, fleet: Fleet, node_i: int, gpus: set[int], until: float) -> None:
        node = fleet.nodes[node_i]
        self.counts.replicas_lost += len(fleet.lose_replicas_on(node_i, gpus))
        for g in gpus:
            node.failed_until[g] = max(node.failed_until[g], until)
        node.version += 1
        self._next_repair = min(self._next_repair, until)

    def _preempt_spot(self, fleet: Fleet, now: float, dt: float) -> None:
        p = -math.expm1(-self.spec.spot_preemptions_per_node_hour * dt / 3600.0)
        for node_i, node in enumerate(fleet.nodes):
            if node.group.pool is not Pool.SPOT:
                continue
            hit = self.spot_rng.random() < p  # drawn for every spot node, every step
            if hit and all(f <= now for f in node.failed_until):
                self.counts.spot_preemptions += 1
                gpus = set(range(len(node.allocated)))
                self._mark_failed(fleet, node_i, gpus, now + self.spec.spot_outage_seconds)

    def _spot_wave(self, fleet: Fleet, now: float) -> None:
        """Every spot node preempted at once (a provider reclaiming a zone's capacity)."""
        for node_i, node in enumerate(fleet.nodes):
            if node.group.pool is Pool.SPOT and all(f <= now for f in node.failed_until):
                self.counts.spot_preemptions += 1
                gpus = set(range(len(node.allocated)))
                self._mark_failed(fleet, node_i, gpus, now + self.spec.spot_outage_seconds)

    def _fail_gpus(self, fleet: Fleet, now: float, dt: float) -> None:
        p = -math.expm1(-self.spec.gpu_failures_per_gpu_hour * dt / 3600.0)
        total = sum(len(n.allocated) for n in fleet.nodes)
        hits = np.flatnonzero(self.gpu_rng.random(total) < p)
        if hits.size == 0:
            return
        offset = 0
        for node_i, node in enumerate(fleet.nodes):
            n = len(node.allocated)
            mine = {int(h) - offset for h in hits if offset <= h < offset + n}
            offset += n
            mine = {g for g in mine if node.failed_until[g] <= now}
            if mine:
                self.counts.gpu_failures += len(mine)
                self._mark_failed(fleet, node_i, mine, now + self.spec.gpu_repair_seconds)
