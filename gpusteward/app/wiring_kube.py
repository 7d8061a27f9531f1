"""The composition root's Kubernetes part: the daemon against a cluster (the official
client), its Prometheus metrics, leader lease, journal, approvals and `/metrics`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from gpusteward.adapters.exposition import DaemonExposition, MetricsServer
from gpusteward.adapters.journal import SqliteJournal
from gpusteward.adapters.kube_cluster import KubeClusterConfig, KubernetesCluster
from gpusteward.adapters.kubernetes import connect
from gpusteward.adapters.lease import LeaseConfig, LeaseElector
from gpusteward.adapters.prometheus import PrometheusSource
from gpusteward.adapters.prometheus_tokens import PrometheusTokens
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring import (
    build_forecaster,
    build_planner,
    check_horizon,
    daemon_exposition,
    load_policy_file,
    open_approval_store,
    resume_approvals,
    serve_chat_beside,
    serve_metrics,
    settle_approvals,
)
from gpusteward.app.wiring_llm import with_llm
from gpusteward.chat.notes import NoteBook, NotedSource
from gpusteward.chat.store import SqliteApprovalStore
from gpusteward.chat.warnings import WarningBoard, posting
from gpusteward.core.clock import RealClock
from gpusteward.core.ports import Clock
from gpusteward.core.tick import TickRecord
from gpusteward.daemon.loop import Daemon, DaemonConfig
from gpusteward.daemon.resume import (
    CheckpointError,
    history_from_journal,
    recent_from_journal,
    restore_planner_from,
)
from gpusteward.daemon.run_stats import RunStats
from redflags.engine import Diagnostics

log = structlog.get_logger("gpusteward.app.wiring_kube")


@dataclass
class KubeRun:
    """The daemon against a Kubernetes cluster, with its lease and `/metrics`, not started."""

    daemon: Daemon
    journal: SqliteJournal
    journal_path: Path
    cluster: KubernetesCluster
    elector: LeaseElector | None  # None in dry-run mode: a dry run takes no lease (no writes)
    exposition: DaemonExposition
    approvals: SqliteApprovalStore  # durable, beside the journal; the chat decides through it
    clock: Clock
    metrics_server: MetricsServer | None = None
    warnings: WarningBoard | None = None  # the diagnostics' warnings, posted to the chat

    def start(self, settings: Settings) -> None:
        if self.elector is not None:
            self.elector.start()
        self.metrics_server = serve_metrics(self.exposition, settings)

    def close(self) -> None:
        if self.elector is not None:
            self.elector.stop()
        if self.metrics_server is not None:
            self.metrics_server.close()
        self.approvals.close()
        self.journal.close()


def build_kube_run(
    scenario: Scenario,
    settings: Settings,
    *,
    max_ticks: int | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> KubeRun:
    """The `kubernetes` backend: the scenario supplies planner, forecaster and policy; the
    cluster, its metrics (Prometheus), the leader lease and the LLM planner (over the
    scenario's, when GPUSTEWARD_LLM_BASE_URL is set) come from Settings."""

    clock = RealClock()
    kube = settings.kube
    api = connect(kube.kubeconfig, kube.context, timeout=(5.0, kube.timeout_seconds))
    interval = settings.interval_seconds or scenario.tick_seconds
    check_horizon(settings, interval, scenario)
    metrics = PrometheusSource(kube.prometheus_url) if kube.prometheus_url else None
    cluster = KubernetesCluster(
        api,
        clock,
        KubeClusterConfig(
            namespaces=kube.namespaces,
            allow_delete=kube.allow_delete,
            adapter_router=kube.adapter_router,
            interval_seconds=interval,
        ),
        metrics=metrics,
        tokens=PrometheusTokens(metrics) if metrics is not None else None,
    )
    elector = None
    if not settings.dry_run:
        lease = settings.lease
        elector = LeaseElector(
            api,
            clock,
            LeaseConfig(
                namespace=lease.namespace,
                name=lease.name,
                identity=lease.identity or socket.gethostname(),
                lease_seconds=lease.seconds,
                renew_deadline_seconds=lease.seconds * 2 / 3,
                retry_period_seconds=lease.seconds / 7,
            ),
        )
    path = settings.journal or Path(".gpusteward") / "kubernetes.db"
    journal = SqliteJournal(path, scenario_id=f"kubernetes:{api.host}")
    config = DaemonConfig(
        interval_seconds=interval,
        dry_run=settings.dry_run,
        forecast_horizon_seconds=settings.forecast_horizon_seconds,
        max_ticks=max_ticks,
    )
    store = open_approval_store(settings, path)
    exposition = daemon_exposition(store, clock)
    policy = load_policy_file(Path(scenario.policy))
    # As on the simulator; no what-if port: nothing here can honestly project a live cluster.
    planner = build_planner(scenario)
    try:  # the planner's memory, when this version can read it; else the journal alone
        restore_planner_from(journal, planner, str(path))
    except CheckpointError as e:
        log.warning("planner memory not restored; resuming from the journal alone", why=str(e))
        planner = build_planner(scenario)
    planner = with_llm(
        planner,
        settings.llm,
        policy,
        horizon_seconds=settings.forecast_horizon_seconds,
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
        history=history_from_journal(journal, config),
        recent=recent_from_journal(journal, config),
        on_tick=settle_approvals(store, posting(board, on_tick)),
        leadership=elector,
        metrics=exposition,
        diagnose=Diagnostics(policy).observe,  # each tick; remedies judged, never run
    )
    resume_approvals(store, daemon, journal, clock)
    return KubeRun(
        daemon, journal, path, cluster, elector, exposition, store, clock, warnings=board
    )


async def run_kube_service(run: KubeRun, settings: Settings, *, once: bool = False) -> RunStats:
    """The Kubernetes daemon; with GPUSTEWARD_CHAT_PEOPLE set, the approval chat beside it
    (real time: no speed). Approved actions are re-judged on a fresh snapshot before they
    run, as in the simulator (`Daemon._approved_and_still_valid`)."""
    main = run.daemon.run(once=once, tick_first=True)
    return await serve_chat_beside(
        main,
        settings,
        run.approvals,
        run.daemon,
        run.clock,
        run.journal_path,
        None,
        warnings=run.warnings,
    )
