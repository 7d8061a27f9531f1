"""The Kubernetes backend: the daemon against a cluster (the official client), with its
Prometheus metrics and leader lease; `wiring.assemble` attaches the rest, as for the
simulator."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from gpusteward.adapters.journal import SqliteJournal
from gpusteward.adapters.kube_cluster import KubeClusterConfig, KubernetesCluster
from gpusteward.adapters.kubernetes import connect
from gpusteward.adapters.lease import LeaseConfig, LeaseElector
from gpusteward.adapters.prometheus import PrometheusSource
from gpusteward.adapters.prometheus_tokens import PrometheusTokens
from gpusteward.app.scenario import Scenario
from gpusteward.app.settings import Settings
from gpusteward.app.settings_groups import RunSettings
from gpusteward.app.wiring import BackendParts, Run, assemble
from gpusteward.core.clock import RealClock
from gpusteward.core.tick import TickRecord
from gpusteward.daemon.resume import DaemonCheckpoint

log = structlog.get_logger("gpusteward.app.wiring_kube")


class KubeBackend:
    """`wiring.Backend` on a Kubernetes cluster (the official client): its Prometheus
    metrics and, unless in dry-run mode, a leader lease. The cluster is its own state, so
    a checkpoint this version cannot read costs only the planner's memory."""

    resume_exactly = False

    def __init__(self, scenario: Scenario, settings: Settings) -> None:
        kube = settings.kube
        self.settings = settings
        self.interval = settings.run.interval_seconds or scenario.tick_seconds
        self.api = connect(kube.kubeconfig, kube.context, timeout=(5.0, kube.timeout_seconds))
        self.clock = RealClock()
        self.cluster: KubernetesCluster | None = None
        self.elector: LeaseElector | None = None

    def check(self) -> None:
        return None  # the cluster is read on the first tick; its errors are per tick

    def journal_at(self, run: RunSettings) -> tuple[Path, str]:
        return run.journal or Path(".gpusteward") / "kubernetes.db", f"kubernetes:{self.api.host}"

    def open(self, checkpoint: DaemonCheckpoint | None, where: str) -> BackendParts:
        kube = self.settings.kube
        metrics = PrometheusSource(kube.prometheus_url) if kube.prometheus_url else None
        self.cluster = KubernetesCluster(
            self.api,
            self.clock,
            KubeClusterConfig(
                namespaces=kube.namespaces,
                allow_delete=kube.allow_delete,
                adapter_router=kube.adapter_router,
                interval_seconds=self.interval,
            ),
            metrics=metrics,
            tokens=PrometheusTokens(metrics) if metrics is not None else None,
        )
        if not self.settings.run.dry_run:  # a dry run takes no lease: it writes nothing
            lease = self.settings.lease
            self.elector = LeaseElector(
                self.api,
                self.clock,
                LeaseConfig(
                    namespace=lease.namespace,
                    name=lease.name,
                    identity=lease.identity or socket.gethostname(),
                    lease_seconds=lease.seconds,
                    renew_deadline_seconds=lease.seconds * 2 / 3,
                    retry_period_seconds=lease.seconds / 7,
                ),
            )
        # No what-if port: nothing here can honestly project a live cluster.
        return BackendParts(
            source=self.cluster, executor=self.cluster, clock=self.clock, lease=self.elector
        )


@dataclass(kw_only=True)
class KubeRun(Run):
    """The daemon against a Kubernetes cluster, with its lease, not started."""

    journal: SqliteJournal
    journal_path: Path
    cluster: KubernetesCluster
    elector: LeaseElector | None  # None in dry-run mode: a dry run takes no lease (no writes)

    def start(self) -> None:
        if self.elector is not None:
            self.elector.start()

    def close(self) -> None:
        if self.elector is not None:
            self.elector.stop()
        if self.approvals is not None:
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
    backend = KubeBackend(scenario, settings)
    run = assemble(backend, scenario, settings, max_ticks=max_ticks, on_tick=on_tick)
    assert backend.cluster is not None
    return KubeRun(**vars(run), cluster=backend.cluster, elector=backend.elector)
