"""The composition root: `assemble` builds every run of the daemon from a backend, a
scenario and the settings — on the simulator (`wiring_sim`), on Kubernetes
(`wiring_kube`), and the in-memory runs of replay and diagnostics (`replay_setup`,
`diagnose_run`).

A backend supplies only what differs between clusters (`Backend` gives `BackendParts`:
its source, executor, clock, own checkpoint state, leader lease and what-if port).
Everything else is attached here, once and the same way for each: the scenario's policy,
planner and forecaster; the planner's memory and the load history from the journal; the
LLM planner agent (`wiring_llm`); the journal and the durable approval store, with the
chat's notes and warnings; the `/metrics` exposition; the diagnostics. Serving a run (its
`/metrics` endpoint and the chat beside it) is `serving.run_service`, for every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from gpusteward.adapters.exposition import DaemonExposition
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.app.parts import build_forecaster, build_planner, check_horizon, load_policy_file
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings
from gpusteward.app.settings_groups import RunSettings
from gpusteward.app.wiring_llm import with_llm
from gpusteward.chat.identities import Identities
from gpusteward.chat.notes import NoteBook, NotedSource
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard, posting
from gpusteward.core.actions import Proposal
from gpusteward.core.approvals import ApprovalRequest
from gpusteward.core.ports import (
    ApprovalGate,
    Clock,
    ClusterSource,
    Executor,
    Forecaster,
    Journal,
    Planner,
)
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import NeedsApproval
from gpusteward.daemon.loop import Daemon, DaemonConfig, Diagnose, Leadership
from gpusteward.daemon.resume import (
    CheckpointError,
    DaemonCheckpoint,
    history_from_journal,
    load_checkpoint,
    recent_from_journal,
    restore_planner,
)
from policies.engine import RulePolicyEngine
from redflags.engine import Diagnostics
from tools.context import WhatIf

log = structlog.get_logger("gpusteward.app.wiring")


@dataclass(kw_only=True)
class BackendParts:
    """What a backend supplies to a run; `assemble` attaches everything else."""

    source: ClusterSource
    executor: Executor
    clock: Clock
    checkpoint: Callable[[], bytes] | None = None  # its own state, in each journal checkpoint
    lease: Leadership | None = None  # None: this daemon acts without an election
    whatif: WhatIf | None = None  # the LLM agent's what-if tool, where one is honest
    blocks_on_io: bool = True  # real backends block: their calls leave the event loop
    end: datetime | None = None  # a simulated run stops there
    speed: float | None = None  # virtual seconds per real second (the chat's clock)


class Backend(Protocol):
    """Where a run observes and acts. `assemble` asks it, in this order: to check its own
    inputs (before anything on disk changes), where its journal is by default and what
    binds a journal to it, then — given the checkpoint read back from that journal (None
    on a first start, and for in-memory runs) — for its parts."""

    @property
    def resume_exactly(self) -> bool:
        """True: a checkpoint this version cannot read stops the run (the simulator's
        state lives in it). False: the run goes on from the journal alone, with a warning
        (a real cluster is its own state; only the planner's memory is lost)."""
        ...

    def check(self) -> None: ...

    def journal_at(self, run: RunSettings) -> tuple[Path, str]:
        """The journal's path (GPUSTEWARD_JOURNAL or the backend's default) and the id
        that binds a journal to this backend and scenario."""
        ...

    def open(self, checkpoint: DaemonCheckpoint | None, where: str) -> BackendParts: ...


@dataclass(kw_only=True)
class Run:
    """A daemon assembled and not yet started, with what its callers read back."""

    scenario: Scenario
    daemon: Daemon
    parts: BackendParts
    journal: Journal
    journal_path: Path | None  # None: an in-memory run (replay, diagnostics)
    approvals: SqliteApprovalStore | None  # durable, beside the journal; None in memory
    exposition: DaemonExposition | None  # /metrics, served by `serving.run_service`
    warnings: WarningBoard | None  # the diagnostics' warnings, posted to the chat
    resumed_at_seq: int | None = None  # the checkpoint's tick, when the run resumed
    moved_aside: tuple[Path | None, Path | None] = field(default=(None, None))  # --fresh

    @property
    def clock(self) -> Clock:
        return self.parts.clock


def watch(policy: RulePolicyEngine) -> Diagnose:
    """The diagnostics every service run carries: each tick's early warnings, with their
    remedies judged by the run's policy and never executed."""
    return Diagnostics(policy).observe


def assemble(
    backend: Backend,
    scenario: Scenario,
    settings: Settings,
    *,
    journal: Journal | None = None,
    fresh: bool = False,
    max_ticks: int | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
    forecaster: Forecaster | None = None,
    policy_file: Path | None = None,
    diagnose: Callable[[RulePolicyEngine], Diagnose | None] | None = watch,
) -> Run:
    """Assemble a run of `scenario` on `backend`.

    Without `journal`, a service run: the SQLite journal at the backend's path (moved
    aside first with `fresh`), resumed from its checkpoint; the durable approval store
    beside it, with the chat's notes and warnings; `/metrics`. With `journal` (replay,
    diagnostics), an in-memory run that writes there: nobody answers its approval
    requests, nothing is checkpointed and nothing touches the disk. Either way the LLM
    planner agent is attached when GPUSTEWARD_LLM_BASE_URL is set in `settings`, and
    `forecaster`/`policy_file` replace the scenario's where given.
    """
    run = settings.run
    interval = run.interval_seconds or scenario.tick_seconds
    check_horizon(run.forecast_horizon_seconds, interval, scenario)
    policy = load_policy_file(policy_file or Path(scenario.policy))
    backend.check()
    if settings.chat.people is not None:
        Identities.load(settings.chat.people)
    planner = build_planner(scenario)
    path: Path | None = None
    store: SqliteApprovalStore | None = None
    moved: tuple[Path | None, Path | None] = (None, None)
    checkpoint: DaemonCheckpoint | None = None
    if journal is None:
        path, journal_id = backend.journal_at(run)
        if fresh:  # keep the old run: moved aside, not deleted
            now = datetime.now(UTC)
            moved = (move_aside(path, now), move_aside(approvals_path(settings, path), now))
        journal = SqliteJournal(path, scenario_id=journal_id)
        store = open_approval_store(settings, path)
        checkpoint, planner = resume_planner(journal, planner, scenario, backend, str(path))
    parts = backend.open(checkpoint, str(path))
    config = DaemonConfig(
        interval_seconds=interval,
        dry_run=run.dry_run,
        forecast_horizon_seconds=run.forecast_horizon_seconds,
        end=parts.end,
        max_ticks=max_ticks,
        offload_blocking_calls=parts.blocks_on_io,
        checkpoints=store is not None,  # an in-memory run is never resumed
    )
    planner = with_llm(
        planner,
        settings.llm,
        policy,
        horizon_seconds=run.forecast_horizon_seconds,
        whatif=parts.whatif,
        interval_seconds=interval,
        announce=store is not None,
    )
    source, hook = parts.source, on_tick
    approvals: ApprovalGate = UnansweredApprovals()
    board, exposition = None, None
    if store is not None:
        source = NotedSource(parts.source, NoteBook(store.path))  # the chat's /intent notes
        board, exposition = WarningBoard(), daemon_exposition(store, parts.clock)
        approvals, hook = store, settle_approvals(store, posting(board, on_tick))
    daemon = Daemon(
        source=source,
        executor=parts.executor,
        forecaster=forecaster or build_forecaster(scenario),
        planner=planner,
        policy=policy,
        approvals=approvals,
        journal=journal,
        clock=parts.clock,
        config=config,
        backend_checkpoint=parts.checkpoint,
        history=history_from_journal(journal, config),
        recent=recent_from_journal(journal, config),
        on_tick=hook,
        leadership=parts.lease,
        metrics=exposition,
        diagnose=diagnose(policy) if diagnose is not None else None,
    )
    if store is not None:
        resume_approvals(store, daemon, journal, parts.clock)
    return Run(
        scenario=scenario,
        daemon=daemon,
        parts=parts,
        journal=journal,
        journal_path=path,
        approvals=store,
        exposition=exposition,
        warnings=board,
        resumed_at_seq=checkpoint.seq if checkpoint is not None else None,
        moved_aside=moved,
    )


def resume_planner(
    journal: Journal, planner: Planner, scenario: Scenario, backend: Backend, where: str
) -> tuple[DaemonCheckpoint | None, Planner]:
    """The journal's checkpoint (None on a first start) and the planner with its memory
    put back. One this version cannot read stops a backend that resumes exactly; any
    other goes on with a freshly built planner and a warning."""
    data = journal.latest_checkpoint()
    if data is None:
        return None, planner
    try:
        checkpoint = load_checkpoint(data, where)
        restore_planner(planner, checkpoint, where)
    except CheckpointError as e:
        if backend.resume_exactly:
            raise
        log.warning("planner memory not restored; resuming from the journal alone", why=str(e))
        return None, build_planner(scenario)  # the failed restore may have half-filled it
    log.info("resuming from checkpoint", journal=where, seq=checkpoint.seq, at=str(checkpoint.at))
    return checkpoint, planner


class UnansweredApprovals:
    """The approval gate of an in-memory run: it records each request; nobody answers."""

    def __init__(self) -> None:
        self.requests: dict[str, ApprovalRequest] = {}

    def submit(self, proposal: Proposal, verdict: NeedsApproval, now: datetime) -> ApprovalRequest:
        request = ApprovalRequest.asked(proposal, verdict, now)
        return self.requests.setdefault(request.id, request)

    def approved(self, now: datetime) -> list[ApprovalRequest]:
        return []


# -- the journal and the approval store of a service run -----------------------------------


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


def resume_approvals(
    store: SqliteApprovalStore, daemon: Daemon, journal: Journal, clock: Clock
) -> None:
    """What a (re)start owes the store: approved actions the journal shows executed are
    settled, and a pause set in the chat holds."""
    store.settle_executed(journal.executed_action_ids(), clock.now())
    daemon.set_paused(store.paused)


def settle_approvals(
    store: SqliteApprovalStore, then: Callable[[TickRecord], None] | None
) -> Callable[[TickRecord], None]:
    """After each recorded tick, tell the approval store what its approved actions did."""

    def on_tick(record: TickRecord) -> None:
        store.record_results(record.results, record.at)
        if then is not None:
            then(record)

    return on_tick
