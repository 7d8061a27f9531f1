"""A daemon over the Kubernetes adapter, with a planner that proposes one scale per tick
and a guard that allows everything: the smallest loop that writes to the cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from forecasting.baselines import LastValueForecaster
from gpusteward.adapters.kube_cluster import KubernetesCluster
from gpusteward.chat.in_memory import InMemoryApprovalGate
from gpusteward.core.actions import Proposal, ScaleDeployment
from gpusteward.core.clock import VirtualClock
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.load import Forecast
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import Allow, RuleHit, Verdict
from gpusteward.daemon.loop import Daemon, DaemonConfig, DaemonMetrics, Leadership
from gpusteward.testing import InMemoryJournal
from tests.contract.worlds import DEPLOYMENT


class AllowAll:
    version = "allow-all"

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        hit = RuleHit(rule="test-allow", reason="the test allows everything")
        return [Allow(action_id=p.action.id, rules=(hit,)) for p in proposals]


class AlternatingScaler:
    """Scales `serving/m` to 3, 4, 3, 4 ... replicas, one new action id per tick."""

    name = "alternating"

    def __init__(self) -> None:
        self.calls = 0

    def plan(self, snapshot: ClusterSnapshot, forecasts: Mapping[str, Forecast]) -> list[Proposal]:
        self.calls += 1
        action = ScaleDeployment(
            issued_at=snapshot.at, deployment=DEPLOYMENT, replicas=3 + self.calls % 2
        )
        return [Proposal(action=action, reason="test")]


def kube_daemon(
    cluster: KubernetesCluster,
    clock: VirtualClock,
    *,
    planner: object | None = None,
    leadership: Leadership | None = None,
    dry_run: bool = False,
    metrics: DaemonMetrics | None = None,
) -> Daemon:
    return Daemon(
        source=cluster,
        executor=cluster,
        forecaster=LastValueForecaster(),
        planner=planner or AlternatingScaler(),  # type: ignore[arg-type]
        policy=AllowAll(),
        approvals=InMemoryApprovalGate(),
        journal=InMemoryJournal(),
        clock=clock,
        config=DaemonConfig(interval_seconds=60, dry_run=dry_run, offload_blocking_calls=False),
        leadership=leadership,
        metrics=metrics,
    )
