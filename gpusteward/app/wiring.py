"""The composition root: builds a daemon from Settings and a scenario (the simulator here;
Kubernetes in `wiring_kube`; the LLM planner agent, attached to both, in `wiring_llm`).

The only module that knows which adapter stands behind each port. A simulated run
resumes from the journal's latest checkpoint when one exists for the same scenario.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from agents.forecast_config import ForecastPlannerConfig
from agents.registry import CompositeConfig, make_planner, needs_outlook
from forecasting.auto import AutoForecaster, AutoForecasterConfig
from forecasting.baselines import LastValueForecaster
from forecasting.guards import MAX_MIX_STEPS
from gpusteward.adapters.exposition import DaemonExposition, MetricsServer
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.app.foresight import TraceOutlook
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings
from gpusteward.app.whatif.simulate import SimulatorWhatIf
from gpusteward.app.wiring_llm import journal_answerer, with_llm
from gpusteward.chat.identities import Identities
from gpusteward.chat.notes import NoteBook, NotedSource
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard, posting
from gpusteward.core.clock import VirtualClock
from gpusteward.core.errors import JournalError, SettingsError
from gpusteward.core.ports import Clock, Forecaster, Planner
from gpusteward.core.tick import TickRecord
from gpusteward.core.user_files import read_user_file
from gpusteward.core.verdicts import ExecutedAction
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.daemon.resume import (
    history_from_journal,
    load_checkpoint,
    recent_from_journal,
    restore_planner,
)
from gpusteward.daemon.run_stats import RunStats
from gpusteward.sim.cluster import SimulatedCluster
from gpusteward.sim.engine import Simulator
from gpusteward.sim.traces import ArrivalTrace
from policies.engine import RulePolicyEngine, load_policy
from redflags.engine import Diagnostics

log = structlog.get_logger("gpusteward.app.wiring")


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
    approvals: SqliteApprovalStore | None = None
    moved_aside: tuple[Path | None, Path | None] = (None, None)  # --fresh: old journal, store
    exposition: DaemonExposition | None = None  # /metrics, served by `run_service`
    warnings: WarningBoard | None = None  # the diagnostics' warnings, posted to the chat


def scenario_id(scenario: Scenario) -> str:
    """Name plus a digest of the scenario's content: a journal belongs to one scenario.
    Fields added since journals were first bound to scenarios are left out while they
    hold their defaults, so a journal written before them still resumes."""
    body = scenario.model_dump_json(exclude=_added_at_default(scenario))
    return f"{scenario.name}@{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def _added_at_default(scenario: Scenario) -> dict[str, Any]:
    """What `scenario_id` leaves out: the description, and each field added in issue 26
    (ground truth, the incident knobs, token lengths, HPA's scale-up window) where every
    occurrence holds its default."""
    out: dict[str, Any] = {"description": True}
    if not scenario.ground_truth:
        out["ground_truth"] = True
    if scenario.faults.spot_wave_after_seconds is None:
        out["faults"] = {"spot_wave_after_seconds": True}
    models = scenario.models
    used = {
        "batch_efficiency": any(m.batch_efficiency != 1.0 for m in models),
        "artifact_transfer_seconds": any(m.artifact_transfer_seconds for m in models),
        "tokens": any(m.tokens is not None for m in models),
    }
    unused = [k for k, u in used.items() if not u]
    if unused:
        out["models"] = {"__all__": dict.fromkeys(unused, True)}
    window = {"scale_up_stabilisation_seconds": True}
    planner = scenario.planner.model_dump()
    scaling = planner.get("scaling") or {}
    if not planner.get("scale_up_stabilisation_seconds") and not scaling.get(
        "scale_up_stabilisation_seconds"
    ):
        out["planner"] = {**window, "scaling": window}
    return out


def default_journal_path(scenario: Scenario) -> Path:
    return Path(".gpusteward") / f"{scenario.name}.db"


def load_policy_file(path: Path) -> RulePolicyEngine:
    """Read and compile a policy file; every problem is an `InputError` naming the file."""
    text = read_user_file(path, "policy file", error=SettingsError)
    return RulePolicyEngine(load_policy(text, str(path)))


def latest_journal() -> Path | None:
    """The most recently written journal under .gpusteward/ (where `run` writes them)."""
    found = sorted(Path(".gpusteward").glob("*.db"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def move_aside(path: Path, now: datetime) -> Path | None:
    """Move the SQLite file at `path` (with its -wal and -shm) to `<path>.<UTC time>.bak`,
    where SQLite still opens it whole; the new name, or None when there was no file."""
    if not path.exists():
        return None
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = Path(f"{path}.{stamp}.bak")
    n = 1
    while kept.exists():  # two starts over in one second
        kept, n = Path(f"{path}.{stamp}-{n}.bak"), n + 1
    for suffix in ("-wal", "-shm", ""):  # the main file last: its sidecars go with it
        if Path(f"{path}{suffix}").exists():
            Path(f"{path}{suffix}").rename(f"{kept}{suffix}")
    return kept


def check_inputs(scenario: Scenario, settings: Settings) -> RulePolicyEngine:
    """Read and check every input a run needs (policy, traces, chat people file) before
    anything is changed on disk: the scenario's policy, compiled."""
    policy = load_policy_file(Path(scenario.policy))
    for model in scenario.models:
        ArrivalTrace(model.trace)  # its rows, and its offset against its length
    if settings.chat.people is not None:
        Identities.load(settings.chat.people)
    return policy


def approvals_path(settings: Settings, journal: Path) -> Path:
    """The approval store: GPUSTEWARD_APPROVALS, or beside the journal (not `*.db`, which
    `gpusteward status` takes for journals)."""
    return settings.chat.approvals or journal.with_suffix(".approvals.sqlite")


def open_approval_store(settings: Settings, journal: Path) -> SqliteApprovalStore:
    """The durable approval store of a run whose journal is `journal` (either backend)."""
    return SqliteApprovalStore(
        approvals_path(settings, journal), cooloff_seconds=settings.chat.approval_cooloff_seconds
    )


def daemon_exposition(store: SqliteApprovalStore, clock: Clock) -> DaemonExposition:
    """The daemon's `/metrics` (either backend), with the store's pending approvals."""
    return DaemonExposition(pending_approvals=lambda: len(store.pending(clock.now())))


def serve_metrics(exposition: DaemonExposition, settings: Settings) -> MetricsServer | None:
    """Serve `/metrics` on GPUSTEWARD_METRICS_HOST:GPUSTEWARD_METRICS_PORT, when a port is
    set (either backend)."""
    metrics = settings.metrics
    if metrics.port is None:
        return None
    server = exposition.serve(metrics.host, metrics.port)
    log.info("serving /metrics", host=metrics.host, port=server.port)
    return server


def resume_approvals(
    store: SqliteApprovalStore, daemon: Daemon, journal: SqliteJournal, clock: Clock
) -> None:
    """What a (re)start owes the store: approved actions the journal shows executed are
    settled, and a pause set in the chat holds."""
    store.settle_executed(journal.executed_action_ids(), clock.now())
    daemon.set_paused(store.paused)


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
    check_horizon(settings, interval, scenario)
    policy = check_inputs(scenario, settings)
    path = settings.journal or default_journal_path(scenario)
    moved: tuple[Path | None, Path | None] = (None, None)
    if fresh:  # keep the old run: moved aside, not deleted
        now = datetime.now(UTC)
        moved = (move_aside(path, now), move_aside(approvals_path(settings, path), now))
    journal = SqliteJournal(path, scenario_id=scenario_id(scenario))
    store = open_approval_store(settings, path)
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
        state = load_checkpoint(checkpoint, str(path))
        if state.backend is None:
            raise JournalError(f"{path}: checkpoint has no simulator state. Fix: run with --fresh.")
        simulator = Simulator.restore(spec, state.backend)
        clock = VirtualClock(state.at, speed=settings.speed)
        restore_planner(planner, state, str(path))  # its memory, onto the scenario's planner
        resumed_at = state.seq
        history = history_from_journal(journal, config)
        recent = recent_from_journal(journal, config)
        log.info("resuming from checkpoint", journal=str(path), seq=state.seq, at=str(state.at))
    else:
        simulator = Simulator(spec)
        clock = VirtualClock(scenario.start, speed=settings.speed)
    cluster = SimulatedCluster(simulator, clock)
    total = int(scenario.duration_seconds // interval)
    exposition = daemon_exposition(store, clock)
    planner = with_llm(
        planner,
        settings.llm,
        policy,
        horizon_seconds=settings.forecast_horizon_seconds,
        whatif=SimulatorWhatIf(simulator),
        interval_seconds=interval,
    )
    board = WarningBoard()
    daemon = Daemon(
        source=NotedSource(cluster, NoteBook(store.path)),  # the chat's /intent notes
        executor=cluster,
        forecaster=build_forecaster(scenario),
        planner=planner,
        policy=policy,
        approvals=store,
        journal=journal,
        clock=clock,
        config=config,
        backend_checkpoint=simulator.checkpoint,
        history=history,
        recent=recent,
        on_tick=settle_approvals(store, posting(board, on_tick)),
        metrics=exposition,
        diagnose=Diagnostics(policy).observe,  # each tick; remedies judged, never run
    )
    resume_approvals(store, daemon, journal, clock)
    complete = clock.now().timestamp() + interval > scenario.end.timestamp()
    return SimRun(
        scenario,
        daemon,
        journal,
        cluster,
        clock,
        path,
        resumed_at,
        total,
        complete,
        store,
        moved_aside=moved,
        exposition=exposition,
        warnings=board,
    )


def settle_approvals(
    store: SqliteApprovalStore, then: Callable[[TickRecord], None] | None
) -> Callable[[TickRecord], None]:
    """After each recorded tick, tell the approval store what its approved actions did."""

    def on_tick(record: TickRecord) -> None:
        store.record_results(record.results, record.at)
        if then is not None:
            then(record)

    return on_tick


async def run_service(
    sim: SimRun, settings: Settings, *, once: bool = False, tick_first: bool = True
) -> RunStats:
    """Run the daemon, its `/metrics` served when GPUSTEWARD_METRICS_PORT is set; with
    GPUSTEWARD_CHAT_PEOPLE set, serve the approval chat beside it."""
    server = serve_metrics(sim.exposition, settings) if sim.exposition is not None else None
    try:
        main = sim.daemon.run(once=once, tick_first=tick_first)
        return await serve_chat_beside(
            main,
            settings,
            sim.approvals,
            sim.daemon,
            sim.clock,
            sim.journal_path,
            settings.speed,
            warnings=sim.warnings,
        )
    finally:
        if server is not None:
            server.close()


async def serve_chat_beside(
    main: Coroutine[object, object, RunStats],
    settings: Settings,
    store: SqliteApprovalStore | None,
    daemon: Daemon,
    clock: Clock,
    journal_path: Path,
    speed: float | None,
    *,
    warnings: WarningBoard | None = None,
) -> RunStats:
    """Await `main` (the daemon's run); with GPUSTEWARD_CHAT_PEOPLE set and a store, serve
    the approval chat over `store` beside it (the sim and Kubernetes backends alike)."""
    chat_settings, slack = settings.chat, settings.slack
    if chat_settings.people is None or store is None:
        return await main
    from gpusteward.chat.runtime import build_chat  # FastAPI loads only when serving
    from gpusteward.chat.server import serve_beside

    secret = {
        name: value.get_secret_value() if value is not None else None
        for name, value in (
            ("bot", slack.bot_token),
            ("signing", slack.signing_secret),
            ("app", slack.app_token),
        )
    }
    try:
        chat = build_chat(
            store=store,
            people=chat_settings.people,
            clock=clock,
            daemon=daemon,
            speed=speed,
            slack_mode=slack.mode,
            slack_bot_token=secret["bot"],
            slack_signing_secret=secret["signing"],
            slack_app_token=secret["app"],
            slack_channel=slack.channel,
            slack_api_url=slack.api_url,
            answerer=journal_answerer(settings.llm, journal_path),
            warnings=warnings,
        )
    except BaseException:
        main.close()  # never started: no 'coroutine was never awaited' on the way out
        raise
    try:
        return await serve_beside(main, chat.app, chat_settings.host, chat_settings.port)
    finally:
        chat.close()


def build_planner(scenario: Scenario) -> Planner:
    """The scenario's planner, with capacity priors from the model profiles; the oracle and
    static-peak planners also get the future load from the scenario's traces."""
    spec = scenario.sim_spec()
    priors = {m.key: dict(m.profile.throughput_rps) for m in spec.models}
    outlook = None
    if needs_outlook(scenario.planner):
        outlook = TraceOutlook(spec, scenario.duration_seconds)
    return make_planner(scenario.planner, priors, outlook)


def check_horizon(settings: Settings, interval: float, scenario: Scenario) -> None:
    """With the `auto` forecaster, the forecast horizon in ticks must be one its online mix
    takes; else every tick's forecast would be a flagged last value. With the forecast
    planner, it must reach the planner's lead (cold start + a tick); else it would size
    for the last point it has and call that the lead."""
    ticks = settings.forecast_horizon_seconds / interval
    if isinstance(scenario.forecaster, AutoForecasterConfig) and ticks > MAX_MIX_STEPS:
        raise SettingsError(
            f"GPUSTEWARD_FORECAST_HORIZON_SECONDS={settings.forecast_horizon_seconds:g} is "
            f"{ticks:.0f} ticks of {interval:g} s; the forecaster takes at most "
            f"{MAX_MIX_STEPS}. Fix: a horizon of at most {MAX_MIX_STEPS * interval:g} s, or "
            "a longer tick interval (GPUSTEWARD_INTERVAL_SECONDS)."
        )
    planner = scenario.planner
    if isinstance(planner, CompositeConfig):
        planner = planner.scaling
    lead = max(m.cold_start_seconds for m in scenario.models) + interval
    if isinstance(planner, ForecastPlannerConfig) and settings.forecast_horizon_seconds < lead:
        raise SettingsError(
            f"GPUSTEWARD_FORECAST_HORIZON_SECONDS={settings.forecast_horizon_seconds:g}: the "
            f"forecast planner sizes for the load {lead:g} s ahead (the longest cold start "
            f"plus a tick), past the forecast's end. Fix: a horizon of at least {lead:g} s."
        )


def build_forecaster(scenario: Scenario) -> Forecaster:
    """A fresh forecaster: its state is a cache, rebuilt from the history after a resume."""
    config = scenario.forecaster
    if isinstance(config, AutoForecasterConfig):
        return AutoForecaster(config)
    return LastValueForecaster()
