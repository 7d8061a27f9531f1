"""The simulator backend: the embedded simulated cluster on a virtual clock. A simulated
run resumes exactly from the journal's latest checkpoint (the simulator's own state is in
it) when one exists for the same scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.app.parts import scenario_id
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings
from gpusteward.app.settings_groups import RunSettings
from gpusteward.app.whatif.simulate import SimulatorWhatIf
from gpusteward.app.wiring import BackendParts, Run, assemble
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import JournalError, SettingsError
from gpusteward.core.tick import TickRecord
from gpusteward.daemon.resume import DaemonCheckpoint
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from gpusteward.sim.traces import ArrivalTrace


class SimBackend:
    """`wiring.Backend` on the simulator: a fresh one at the scenario's start, or the one
    the checkpoint holds at the checkpoint's time."""

    resume_exactly = True

    def __init__(self, scenario: Scenario, speed: float | None = None) -> None:
        self.scenario, self.speed = scenario, speed
        self.spec = scenario.sim_spec()
        self.simulator: Simulator | None = None
        self.cluster: SimulatedCluster | None = None

    def check(self) -> None:
        for model in self.scenario.models:
            ArrivalTrace(model.trace)  # its rows, and its offset against its length

    def journal_at(self, run: RunSettings) -> tuple[Path, str]:
        return run.journal or default_journal_path(self.scenario), scenario_id(self.scenario)

    def open(self, checkpoint: DaemonCheckpoint | None, where: str) -> BackendParts:
        if checkpoint is None:
            simulator = Simulator(self.spec)
            clock = VirtualClock(self.scenario.start, speed=self.speed)
        elif checkpoint.backend is None:
            raise JournalError(
                f"{where}: checkpoint has no simulator state. Fix: run with --fresh."
            )
        else:
            simulator = Simulator.restore(self.spec, checkpoint.backend)
            clock = VirtualClock(checkpoint.at, speed=self.speed)
        cluster = SimulatedCluster(simulator, clock)
        self.simulator, self.cluster = simulator, cluster
        return BackendParts(
            source=cluster,
            executor=cluster,
            clock=clock,
            checkpoint=simulator.checkpoint,
            whatif=SimulatorWhatIf(simulator),
            blocks_on_io=False,  # the simulator never blocks
            end=self.scenario.end,
            speed=self.speed,
        )


@dataclass(kw_only=True)
class SimRun(Run):
    journal: SqliteJournal
    journal_path: Path
    cluster: SimulatedCluster
    total_ticks: int
    complete: bool  # the journal already holds every tick of the scenario


def build_sim_run(
    scenario: Scenario,
    settings: Settings,
    *,
    fresh: bool = False,
    max_ticks: int | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> SimRun:
    """A service run of `scenario` on the simulator (`gpusteward run`)."""
    if settings.backend != "sim":
        raise SettingsError(
            f"backend {settings.backend!r} runs through `gpusteward cluster run`; "
            "Fix: use --backend sim here."
        )
    backend = SimBackend(scenario, settings.run.speed)
    run = assemble(backend, scenario, settings, fresh=fresh, max_ticks=max_ticks, on_tick=on_tick)
    assert backend.cluster is not None
    interval = run.daemon.config.interval_seconds
    return SimRun(
        **vars(run),
        cluster=backend.cluster,
        total_ticks=int(scenario.duration_seconds // interval),
        complete=run.clock.now().timestamp() + interval > scenario.end.timestamp(),
    )


def default_journal_path(scenario: Scenario) -> Path:
    return Path(".gpusteward") / f"{scenario.name}.db"


def latest_journal() -> Path | None:
    """The most recently written journal under .gpusteward/ (where `run` writes them)."""
    found = sorted(Path(".gpusteward").glob("*.db"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
