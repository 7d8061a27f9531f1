"""A scenario run on the simulator with the diagnostics on: the warnings each tick, the
SLO as it was met, and what the diagnostics cost (`gpusteward diagnose`, the benchmark).

The run is the daemon's own loop (virtual clock, nothing real touched); the diagnostics
are its per-tick hook, with the scenario's policy judging each remedy.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import default_settings
from gpusteward.app.wiring import assemble
from gpusteward.app.wiring_sim import SimBackend
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.diagnosis import DiagnosticWarning, RedFlag
from gpusteward.core.ports import GuardInputs
from gpusteward.core.tick import TickRecord
from policies.engine import RulePolicyEngine
from redflags.engine import Diagnostics
from runbooks.series import SeriesJournal

SLO_WINDOW_SECONDS = 600.0  # the SLO is missed when 10 minutes of requests miss its target
DETECT_WINDOW_SECONDS = 7200.0  # a warning up to 2 h after the condition began detects it
LEAD_WANTED_SECONDS = 600.0  # a lead is possible where the condition began this long before


@dataclass
class DeploymentSlo:
    """One deployment's requests over the run, to tell when its SLO is missed."""

    target: float
    points: deque[tuple[float, int, int]] = field(default_factory=deque)  # t, within, done
    missed: list[float] = field(default_factory=list)  # ticks (epoch s) the SLO was missed
    ticks: list[float] = field(default_factory=list)  # every tick observed (epoch s)

    def add(self, t: float, within: int, done: int) -> None:
        self.ticks.append(t)
        self.points.append((t, within, done))
        while self.points and self.points[0][0] < t - SLO_WINDOW_SECONDS:
            self.points.popleft()
        _, w0, d0 = self.points[0]
        if done > d0 and (within - w0) / (done - d0) < self.target:
            self.missed.append(t)


@dataclass
class DiagnosedRun:
    scenario: str
    start: datetime
    ticks: int = 0
    opened: dict[str, DiagnosticWarning] = field(default_factory=dict)  # id -> when opened
    resolved: dict[str, datetime] = field(default_factory=dict)
    slo: dict[str, DeploymentSlo] = field(default_factory=dict)
    utilisation: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    diagnose_seconds: float = 0.0
    tick_seconds: float = 0.0

    def first_miss(self, deployment: str) -> float | None:
        """Seconds after the start of the first SLO miss of `deployment` (None: none)."""
        slo = self.slo.get(deployment)
        if slo is None or not slo.missed:
            return None
        return slo.missed[0] - self.start.timestamp()

    def record(self, record: TickRecord) -> None:
        self.ticks += 1
        snap = record.snapshot
        if snap is not None:
            self._observe(snap)
        for w in record.warnings:
            if w.id not in self.opened:
                self.opened[w.id] = w
            if w.resolved:
                self.resolved[w.id] = w.at

    def _observe(self, snap: ClusterSnapshot) -> None:
        t = snap.at.timestamp()
        for d in snap.deployments:
            acc = (snap.accounting or {}).get(d.key)
            if acc is not None:
                slo = self.slo.setdefault(d.key, DeploymentSlo(d.slo.attainment_target))
                slo.add(t, acc.served_within_slo, acc.served + acc.dropped)
            m = snap.metrics.get(d.key)
            if m is not None and m.capacity_rps > 0:
                self.utilisation.setdefault(d.key, []).append((t, m.gpu_utilization))


class _TimedDiagnostics:
    """The daemon's diagnose hook, timed; the tick it belongs to is timed by `on_tick`."""

    def __init__(self, diagnostics: Diagnostics, run: DiagnosedRun) -> None:
        self.diagnostics, self.run = diagnostics, run

    def __call__(
        self, snapshot: ClusterSnapshot, inputs: GuardInputs
    ) -> tuple[DiagnosticWarning, ...]:
        started = time.process_time()
        try:
            return self.diagnostics.observe(snapshot, inputs)
        finally:
            self.run.diagnose_seconds += time.process_time() - started


def run_diagnosed(
    scenario: Scenario, *, max_ticks: int | None = None, diagnose: bool = True
) -> DiagnosedRun:
    """Run `scenario` with the diagnostics on every tick (`diagnose=False`: off, to time
    the ticks without them)."""
    run = DiagnosedRun(scenario.name, scenario.start)
    last = [time.process_time()]

    def on_tick(record: TickRecord) -> None:
        now = time.process_time()
        run.tick_seconds += now - last[0]
        last[0] = now
        run.record(record)

    def hook(policy: RulePolicyEngine) -> _TimedDiagnostics | None:
        return _TimedDiagnostics(Diagnostics(policy), run) if diagnose else None

    daemon = assemble(
        SimBackend(scenario),
        scenario,
        default_settings(),
        journal=SeriesJournal(scenario.sim_spec().models),
        max_ticks=max_ticks,
        on_tick=on_tick,
        diagnose=hook,
    ).daemon
    last[0] = time.process_time()  # the ticks are timed, not the assembly
    asyncio.run(daemon.run())
    return run


# -- scoring a red-flag scenario against its ground truth ----------------------------------


@dataclass(frozen=True)
class Detection:
    scenario: str
    flag: RedFlag
    begins_s: float
    detected_s: float | None  # when the matching warning opened (None: missed)
    label_miss_s: float | None
    measured_miss_s: float | None  # first SLO miss after the condition began, in the run

    @property
    def lead_s(self) -> float | None:
        if self.detected_s is None or self.measured_miss_s is None:
            return None
        return self.measured_miss_s - self.detected_s

    @property
    def lead_possible(self) -> bool:
        miss = self.measured_miss_s
        return miss is not None and miss - self.begins_s >= LEAD_WANTED_SECONDS

    @property
    def label_holds(self) -> bool:
        """The label's first miss is the run's, within a tick (or both are None)."""
        a, b = self.label_miss_s, self.measured_miss_s
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 60)


def detections(name: str, scenario: Scenario, run: DiagnosedRun) -> list[Detection]:
    """Each ground-truth label of `scenario`: whether (and when) its red flag was warned of,
    and when the SLO was first missed after the condition began."""
    start = scenario.start.timestamp()
    out = []
    for label in scenario.ground_truth:
        begins = label.condition_begins_seconds
        opened = [
            w.opened_at.timestamp() - start
            for w in run.opened.values()
            if w.flag is label.flag and w.deployment == label.deployment
        ]
        hits = [t for t in opened if begins <= t <= begins + DETECT_WINDOW_SECONDS]
        slo = run.slo.get(label.deployment)
        misses = [t - start for t in (slo.missed if slo else []) if t - start >= begins]
        out.append(
            Detection(
                name,
                label.flag,
                begins,
                min(hits) if hits else None,
                label.slo_first_missed_seconds,
                misses[0] if misses else None,
            )
        )
    return out
