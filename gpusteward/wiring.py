"""The composition root: builds a daemon from Settings and a scenario.

The only module that knows which adapter stands behind each port. A simulated run
resumes from the journal's latest checkpoint when one exists for the same scenario.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from agents.reactive import ReactivePlanner
from forecasting.baselines import LastValueForecaster
from gpusteward.approvals import InMemoryApprovalGate
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import JournalError, SettingsError
from gpusteward.core.tick import TickRecord
from gpusteward.daemon import Daemon, DaemonConfig, history_from_journal, load_checkpoint
from gpusteward.journal import SqliteJournal
from gpusteward.scenario import Scenario
from gpusteward.settings import Settings
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from policies.bounds import BoundsPolicy

log = structlog.get_logger("gpusteward.wiring")


@dataclass
class SimRun:
    scenario: Scenario
    daemon: Daemon
    journal: SqliteJournal
    cluster: SimulatedCluster
    clock: VirtualClock
    journal_path: Path
    resumed_at_seq: int | None
    total_ticks: int
    complete: bool


def scenario_id(scenario: Scenario) -> str:
    """Name plus a digest of the scenario's content: a journal belongs to one scenario."""
    body = scenario.model_dump_json(exclude={"description"})
    return f"{scenario.name}@{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def default_journal_path(scenario: Scenario) -> Path:
    return Path(".gpusteward") / f"{scenario.name}.db"


def remove_journal(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def build_sim_run(
    scenario: Scenario,
    settings: Settings,
    *,
    fresh: bool = False,
    max_ticks: int | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> SimRun:
    if settings.backend != "sim":
        raise SettingsError(
            f"backend {settings.backend!r} is not available in this version; the Kubernetes "
            "adapter is tracked in its own issue. Fix: use --backend sim."
        )
    interval = settings.interval_seconds or scenario.tick_seconds
    path = settings.journal or default_journal_path(scenario)
    if fresh:
        remove_journal(path)
    journal = SqliteJournal(path, scenario_id=scenario_id(scenario))
    spec = scenario.sim_spec()
    config = DaemonConfig(
        interval_seconds=interval,
        dry_run=settings.dry_run,
        forecast_horizon_seconds=settings.forecast_horizon_seconds,
        end=scenario.end,
        max_ticks=max_ticks,
        offload_blocking_calls=False,  # the simulator never blocks
    )
    planner = ReactivePlanner(scenario.planner)
    history = None
    resumed_at: int | None = None
    checkpoint = journal.latest_checkpoint()
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        if state.backend is None:
            raise JournalError(f"{path}: checkpoint has no simulator state. Fix: run with --fresh.")
        simulator = Simulator.restore(spec, state.backend)
        clock = VirtualClock(state.at, speed=settings.speed)
        planner, resumed_at = state.planner, state.seq
        history = history_from_journal(journal, config)
        log.info("resuming from checkpoint", journal=str(path), seq=state.seq, at=str(state.at))
    else:
        simulator = Simulator(spec)
        clock = VirtualClock(scenario.start, speed=settings.speed)
    cluster = SimulatedCluster(simulator, clock)
    total = int(scenario.duration_seconds // interval)
    daemon = Daemon(
        source=cluster,
        executor=cluster,
        forecaster=LastValueForecaster(),
        planner=planner,
        policy=BoundsPolicy(scenario.guard),
        approvals=InMemoryApprovalGate(),
        journal=journal,
        clock=clock,
        config=config,
        backend_checkpoint=simulator.checkpoint,
        history=history,
        on_tick=on_tick,
    )
    complete = clock.now().timestamp() + interval > scenario.end.timestamp()
    return SimRun(scenario, daemon, journal, cluster, clock, path, resumed_at, total, complete)
