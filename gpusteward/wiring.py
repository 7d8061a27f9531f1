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

from agents.registry import make_planner
from forecasting.auto import AutoForecaster, AutoForecasterConfig
from forecasting.baselines import LastValueForecaster
from gpusteward.approvals import InMemoryApprovalGate
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import JournalError, SettingsError
from gpusteward.core.ports import Forecaster, Planner
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ExecutedAction
from gpusteward.daemon import (
    Daemon,
    DaemonConfig,
    history_from_journal,
    load_checkpoint,
    recent_from_journal,
)
from gpusteward.foresight import TraceOutlook
from gpusteward.journal import SqliteJournal
from gpusteward.scenario import Scenario
from gpusteward.settings import Settings
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from policies.engine import RulePolicyEngine, load_policy

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


def load_policy_file(path: Path) -> RulePolicyEngine:
    """Read and compile a policy file; every problem is an `InputError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(
            f"{path}: cannot read policy file ({e}). Fix: check the path."
        ) from None
    return RulePolicyEngine(load_policy(text, str(path)))


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
    planner = build_planner(scenario)
    history = None
    recent: list[ExecutedAction] = []
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
        recent = recent_from_journal(journal, config)
        log.info("resuming from checkpoint", journal=str(path), seq=state.seq, at=str(state.at))
    else:
        simulator = Simulator(spec)
        clock = VirtualClock(scenario.start, speed=settings.speed)
    cluster = SimulatedCluster(simulator, clock)
    total = int(scenario.duration_seconds // interval)
    daemon = Daemon(
        source=cluster,
        executor=cluster,
        forecaster=build_forecaster(scenario),
        planner=planner,
        policy=load_policy_file(Path(scenario.policy)),
        approvals=InMemoryApprovalGate(),
        journal=journal,
        clock=clock,
        config=config,
        backend_checkpoint=simulator.checkpoint,
        history=history,
        recent=recent,
        on_tick=on_tick,
    )
    complete = clock.now().timestamp() + interval > scenario.end.timestamp()
    return SimRun(scenario, daemon, journal, cluster, clock, path, resumed_at, total, complete)


def build_planner(scenario: Scenario) -> Planner:
    """The scenario's planner, with capacity priors from the model profiles; the oracle and
    static-peak planners also get the future load from the scenario's traces."""
    spec = scenario.sim_spec()
    priors = {m.key: dict(m.profile.throughput_rps) for m in spec.models}
    outlook = None
    if scenario.planner.kind in ("oracle", "static-peak"):
        outlook = TraceOutlook(spec, scenario.duration_seconds)
    return make_planner(scenario.planner, priors, outlook)


def build_forecaster(scenario: Scenario) -> Forecaster:
    """A fresh forecaster: its state is a cache, rebuilt from the history after a resume."""
    config = scenario.forecaster
    if isinstance(config, AutoForecasterConfig):
        return AutoForecaster(config)
    return LastValueForecaster()
